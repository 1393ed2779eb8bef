"""惠工咨询 / 法律援助: consultation cases on a business calendar, answered by union desks within an SLA.

Workers open cases (mini-program or the official account) in a category; a case goes to the desk
nearest the worker's org, is claimed by one staff member and answered in the console; the answer
stays on the case page and reaches the worker within WeChat's rules. The SLA is derived from the
case's event log and its desk's calendar (`sla.derive`), never stored as truth.

Modules: `model` (vocabulary), `calendar` and `sla` (pure), `asking` (workers), `answering`
(staff), `admin` (desks, calendars, reports), `delivery`, `checks` (content check, masking),
`desks` (routing, calendar inheritance), `people`, `timers`, `jobs`, `store` (MongoDB), `live` (Redis).
"""

from services.consultation.calendar import BusinessCalendar
from services.consultation.sla import derive, report

__all__ = ["BusinessCalendar", "derive", "report"]
