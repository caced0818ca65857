"""Retrieval codes (channels/codes.py new_code): six characters, every one from the alphabet
that cannot be misread, each position drawn evenly (one draw below 25^6 written in base 25)."""

from __future__ import annotations

from collections import Counter

from channels.codes import ALPHABET, LENGTH, new_code


def test_codes_are_six_characters_of_the_alphabet_each_position_drawn_evenly() -> None:
    draws = [new_code() for _ in range(5000)]
    assert all(len(code) == LENGTH == 6 and set(code) <= set(ALPHABET) for code in draws)
    for position in range(LENGTH):
        counts = Counter(code[position] for code in draws)
        # 200 expected per character (sd about 14): every character, none far off.
        assert set(counts) == set(ALPHABET)
        assert all(110 <= n <= 290 for n in counts.values()), counts
    assert len(set(draws)) > 4990  # about 2.4e8 codes: repeats among 5,000 are rare
