"""Closing the loop (限时办结, 统一督办, 评价反馈): the scheduler that warns, marks overdue and
supervises; the supervised list; the assessment of units (考核) and its exports."""
