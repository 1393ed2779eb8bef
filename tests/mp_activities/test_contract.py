"""schemathesis on the survey and sign-up endpoints, with ids that exist so the fuzzer gets past the 404s.

The suite-wide run (tests/mp/test_schemathesis.py) covers every endpoint with unknown ids; this one feeds a
real survey, activity and sign-up of the fuzzing user, so drafts, submissions, sign-ups, cancellations and
check-ins are exercised: no 5xx, documented statuses only, bodies matching their schemas.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from core.deps import Deps
from services.activities import checkin, signups
from services.members.sessions import CurrentUser
from tests.mp.schemathesis_hooks import FUZZ_OPENID
from tests.mp_activities.conftest import FORM
from tests.mp_activities.test_api import province_activity, province_survey
from tests.mp_activities.test_checkin import soon

ROOT = Path(__file__).resolve().parents[2]
ST = str(Path(sys.executable).with_name("st"))


async def test_contract_holds_with_real_ids(app_server: str, deps: Deps, fake_wechat: Any, tmp_path: Path) -> None:
    survey_id = await province_survey(deps)
    activity_id = await province_activity(deps, soon(capacity=2))
    mine, _ = await signups.sign_up(deps, CurrentUser(FUZZ_OPENID), activity_id, "s1", FORM)
    env = dict(
        os.environ,
        SCHEMATHESIS_HOOKS="tests.mp.schemathesis_hooks",
        ST_APP_URL=app_server,
        ST_FAKE_URL=fake_wechat.url,
        ST_KNOWN_SURVEY_ID=survey_id,
        ST_KNOWN_ACTIVITY_ID=activity_id,
        ST_KNOWN_SIGNUP_ID=mine["id"],
        PYTHONPATH=str(ROOT),
    )
    assert checkin.checkin_code(deps, activity_id, "s1")  # the venue code exists; the fuzzer only guesses
    cmd = [
        ST, "run", f"{app_server}/api/openapi.json",
        "--include-path-regex", "^/api/mp/(surveys|activities|signups)",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--phases", "coverage,fuzzing", "--max-examples", "10", "--seed", "20240601", "--workers", "1",
        "--max-time", "15", "--request-timeout", "10", "--suppress-health-check", "all",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=str(ROOT), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-8000:]
