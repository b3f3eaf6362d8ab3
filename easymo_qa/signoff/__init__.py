"""Sign-off: gates from signoff.yaml, waivers from waivers.yaml, measurements from a run (tests, load,
rollback), a GO / NO-GO verdict and its reports (JSON, Markdown, HTML).

``model`` holds the data, ``assess`` decides (pure), ``report`` and ``render`` shape the report, and
``files`` reads the inputs and writes the reports. It never runs tests: ``easymo_qa.stages`` does.
"""
