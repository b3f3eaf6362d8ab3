"""The pytest plugin (entry point ``easymo_qa``), one module per concern; pytest loads them all from here,
each before the modules that import it (so that pytest can rewrite their asserts)."""

pytest_plugins = [
    "easymo_qa.pytest_plugin.options",  # --env, --reports-dir, the sign-off's inputs
    "easymo_qa.pytest_plugin.markers",  # every marker the suites use, declared once
    "easymo_qa.pytest_plugin.production",  # what may run against a production environment
    "easymo_qa.pytest_plugin.outcomes",  # each test's outcome, transcript and latencies, for the sign-off
    "easymo_qa.pytest_hygiene",  # message hygiene: --hygiene, the per-test check
    "easymo_qa.pytest_plugin.session",  # the environment, the stack, the xdist hand-off
    "easymo_qa.pytest_plugin.collection",  # *.journey.yaml / *.scenario.yaml items, needs(capability)
    "easymo_qa.pytest_plugin.finish",  # at the session's end: the outcomes file, the sign-off, its verdict
    "easymo_qa.pytest_plugin.fixtures",  # target, users, transcripts, reports_dir
]
