"""The legacy department hotlines (12315, 12320, ...) folded into 12345.

Two parts that share only this package's top:
- importing/: the bulk import of a line's export (readers, importer) and the duplicate search
  over what was imported (dedupe, candidates), run by an operator once per file;
- bridge/: the live link to a 双号并行 line (adapter, the REST and SOAP wires, the poller that
  pulls the cases the line took itself, the refusals it could not take).
At the top: config.py (lines.yaml and each line's mapping file), mapping.py (a line's row ->
a canonical case: the import and the bridge's inbound side both use it), tables.py, the
review API, the feature, the sandbox lines, and sub_centre.py (设分中心, the third way a line
is folded in: neither an import nor a bridge, the hub dispatches to the line's unit).
"""
