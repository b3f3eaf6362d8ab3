"""Sign-off: gates from signoff.yaml, waivers from waivers.yaml, measurements from a run (tests, load,
rollback), a GO / NO-GO verdict and its reports (JSON, Markdown, HTML)."""

from easymo_qa.signoff.assess import Assessment, SignoffInputError, assess, sign_off
from easymo_qa.signoff.gates import Gate, GateResult, Measurement, evaluate, load_gates
from easymo_qa.signoff.load import LoadSummary, LoadSummaryError
from easymo_qa.signoff.report import ReportError, RunInfo, build_report, rerender, write_reports
from easymo_qa.signoff.rollback import RollbackResult, RollbackResultError
from easymo_qa.signoff.verdict import Verdict, decide
from easymo_qa.signoff.waivers import Waiver, Waivers, WaiversFileError, load_waivers

__all__ = [
    "Assessment",
    "Gate",
    "GateResult",
    "LoadSummary",
    "LoadSummaryError",
    "Measurement",
    "ReportError",
    "RollbackResult",
    "RollbackResultError",
    "RunInfo",
    "SignoffInputError",
    "Verdict",
    "Waiver",
    "Waivers",
    "WaiversFileError",
    "assess",
    "build_report",
    "decide",
    "evaluate",
    "load_gates",
    "load_waivers",
    "rerender",
    "sign_off",
    "write_reports",
]
