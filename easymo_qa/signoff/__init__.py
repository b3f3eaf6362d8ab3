"""Sign-off: gates from signoff.yaml, measurements from a run, a GO / NO-GO verdict and its reports."""

from easymo_qa.signoff.gates import Gate, GateResult, Measurement, evaluate, load_gates
from easymo_qa.signoff.verdict import Verdict, decide

__all__ = ["Gate", "GateResult", "Measurement", "Verdict", "decide", "evaluate", "load_gates"]
