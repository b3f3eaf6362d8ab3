"""``easymo-qa doctor``: can the harness test this environment? Each check a row (pass, fail with a one-line
fix, or skipped with what it needs); and the cheap preflight the pytest session and the sign-off run first.
"""

from easymo_qa.doctor.model import DoctorReport, Row
from easymo_qa.doctor.preflight import webhook_unreachable
from easymo_qa.doctor.run import run_doctor

__all__ = ["DoctorReport", "Row", "run_doctor", "webhook_unreachable"]
