"""The console's handler bases: login required, CSRF, roles and org scope, decided in `prepare()` for every route.

- `ConsolePage`: HTML pages under /admin/. Not logged in: GET/HEAD redirect to the login page
  (with `next`), other methods too (303). Errors render a Chinese error page.
- `ConsoleApi`: JSON under /api/admin/. Not logged in: 401 `{"code","message"}`.
- Every unsafe method checks the CSRF token bound to the session (form field `_xsrf` or header
  `X-XSRFToken`); the login form, before any session exists, uses Tornado's double-submit cookie.
  The application has `xsrf_cookies` off because WeChat and the mini-program cannot send tokens.
- Roles: `viewer` accounts cannot use unsafe methods (except where a handler says `viewer_may_post`,
  e.g. logout or their own password); `admin_only` handlers need an admin. Desk roles (`judge`,
  `counsellor`, `vendor`: `DESKS`) reach only handlers whose `desk_roles` name them (their desk, and
  logout, password, org switch, "me"): other pages redirect to their desk, other JSON answers 403.
- `self.scope` (services.editors.scope.Scope) carries the org rule into every service call.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

import tornado.escape
import tornado.web

from core.errors import Forbidden, ServiceError, Unauthorized
from core.outage import is_storage_fault, is_unavailable
from handlers.base import HTTP_TEXT, BaseHandler, JsonHandler
from handlers.console.render import install_filters, jsonable, static_url
from services.editors import auth as console_auth
from services.editors import scope as console_scope
from services.editors.auth import Session
from services.editors.scope import Scope

log = logging.getLogger(__name__)

SESSION_COOKIE = "sdgh_console"
FLASH_COOKIE = "sdgh_flash"
LOGIN_URL = "/admin/login"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def cookie_flags(public_url: str) -> dict[str, Any]:
    """Every console cookie (session, flash, the login form's `_xsrf`): not readable by scripts, not sent
    on cross-site subrequests, and only over https when the console is served over https. The session
    stays `Lax`, not `Strict`: editors open console links from WeChat and e-mail, and a `Strict` session
    would not be sent on that first navigation (they would land on the login page while logged in);
    every change is guarded by the session's CSRF token anyway."""
    return {"httponly": True, "samesite": "Lax", "secure": public_url.startswith("https://")}


@dataclass(frozen=True)
class Desk:
    """A role limited to its own desk: where it lands and what it is told elsewhere."""

    page: str
    refusal: str
    code: str


DESKS = {
    "judge": Desk("/admin/judging", "评委账号只能查看和提交自己的评审任务", "judge_only"),
    "counsellor": Desk("/admin/counselling", "心理咨询师账号只能使用心理咨询工作台", "counsellor_only"),
    "vendor": Desk("/admin/redeem", "商户账号只能使用核销功能", "vendor_only"),
}


class ConsoleMixin(BaseHandler):
    public: ClassVar[bool] = False  # the login page
    admin_only: ClassVar[bool] = False
    viewer_may_post: ClassVar[bool] = False  # logout, switching org, one's own password
    desk_roles: ClassVar[frozenset[str]] = frozenset()  # desk roles (DESKS) that may use this handler
    streams_body: ClassVar[bool] = False  # uploads: CSRF is checked after the body arrived
    session: Session | None = None
    scope: Scope

    async def prepare(self) -> None:
        super().prepare()
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("X-Content-Type-Options", "nosniff")
        token = self.get_signed_cookie(SESSION_COOKIE, max_age_days=1)
        self.session = await console_auth.current(self.deps, token.decode() if token else None)
        if self.session is not None:
            self.current_user = self.session.editor
            self.scope = Scope(self.session.editor, self.session.org, self.client_ip())
        elif not self.public:
            self.not_logged_in()
            return
        desk = DESKS.get(self.session.editor.role) if self.session is not None else None
        at_desk = desk is not None and self.session is not None and self.session.editor.role in self.desk_roles
        if desk is not None and not at_desk:
            self.elsewhere(desk)
            return
        if self.request.method not in SAFE_METHODS:
            if not self.streams_body:
                self.check_csrf()
            if self.session is not None and not self.viewer_may_post and not at_desk:
                self.scope.require_write()
        if self.admin_only and self.session is not None:
            self.scope.require_admin()

    def not_logged_in(self) -> None:
        raise Unauthorized("请先登录", code="login_required")

    def elsewhere(self, desk: Desk) -> None:
        raise Forbidden(desk.refusal, code=desk.code)

    def check_csrf(self, submitted: str | None = None) -> None:
        """The session's token must come back with every change; without a session, Tornado's cookie check."""
        if self.session is None:
            self.check_xsrf_cookie()
            return
        token = submitted or self.get_body_argument("_xsrf", None) or self.request.headers.get("X-XSRFToken", "")
        if not token or not hmac.compare_digest(token.encode(), self.session.csrf.encode()):
            raise Forbidden("页面已过期或请求来源无法确认，请刷新页面后重试", code="csrf_failed")

    def xsrf_form_html(self) -> str:
        if self.session is None:
            return super().xsrf_form_html()
        return f'<input type="hidden" name="_xsrf" value="{tornado.escape.xhtml_escape(self.session.csrf)}"/>'

    @property
    def cookie_flags(self) -> dict[str, Any]:
        return cookie_flags(self.deps.settings.server.public_url)

    def set_session_cookie(self, token: str) -> None:
        self.set_signed_cookie(SESSION_COOKIE, token, expires_days=None, path="/", **self.cookie_flags)

    def flash(self, message: str) -> None:
        self.set_signed_cookie(FLASH_COOKIE, message.encode(), expires_days=None, path="/admin", **self.cookie_flags)

    def take_flash(self) -> str:
        raw = self.get_signed_cookie(FLASH_COOKIE, max_age_days=1)
        if raw is not None:
            self.clear_cookie(FLASH_COOKIE, path="/admin", **self.cookie_flags)
        return raw.decode() if raw else ""


class ConsolePage(ConsoleMixin):
    """HTML pages. Subclasses set `nav` (the menu entry to highlight)."""

    nav: ClassVar[str] = ""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", CSP)

    def not_logged_in(self) -> None:
        url = LOGIN_URL
        if self.request.method in ("GET", "HEAD") and self.request.uri and self.request.uri != "/admin/":
            url += "?" + urlencode({"next": self.request.uri})
        self.redirect(url, status=302 if self.request.method in ("GET", "HEAD") else 303)

    def elsewhere(self, desk: Desk) -> None:
        """A desk account opening any other page (the front page after login, say) lands on its desk."""
        if self.request.method not in ("GET", "HEAD"):
            raise Forbidden(desk.refusal, code=desk.code)
        self.redirect(desk.page)

    def form(self) -> dict[str, str]:
        """Submitted form fields (single values, trimmed), without the CSRF token."""
        return {k: self.get_body_argument(k, "").strip() for k in self.request.body_arguments if k != "_xsrf"}

    def form_list(self, name: str) -> list[str]:
        return [v.strip() for v in self.get_body_arguments(name)]

    async def render_page(self, name: str, status: int = 200, **ns: Any) -> None:
        """Render a console page; `status` is the HTTP status (templates never get a variable of that name)."""
        env = self.deps.jinja
        install_filters(env)
        if self.session is not None:
            ns.setdefault("crumbs", await console_scope.breadcrumbs(self.deps.db, self.scope))
            ns.setdefault("child_orgs", await console_scope.children(self.deps.db, self.scope))
            ns.setdefault("scope", self.scope)
            rows = ns.get("rows")
            if "org_names" not in ns and isinstance(rows, list):  # lists show org names, not codes
                codes = [str(r["org"]) for r in rows if isinstance(r, dict) and r.get("org")]
                ns["org_names"] = await console_scope.org_names(self.deps.db, codes) if codes else {}
        ns.update(
            user=self.current_user,
            session=self.session,
            nav=self.nav,
            flash=self.take_flash(),
            xsrf_form_html=self.xsrf_form_html,
            csrf=self.session.csrf if self.session else "",
            request_uri=self.request.uri,
            errors=ns.get("errors") or {},
            static=static_url,
        )
        self.set_status(status)
        self.finish(env.get_template(name).render(**ns))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ServiceError):
            status_code, message = exc.status, exc.message
        elif is_unavailable(exc) or is_storage_fault(exc):
            status_code, message = 503, HTTP_TEXT[503]
        elif isinstance(exc, tornado.web.HTTPError) and status_code == 403 and "_xsrf" in (exc.log_message or ""):
            message = "页面已过期，请刷新页面后重试"
        else:
            message = HTTP_TEXT.get(status_code, "请求失败")
        self.set_status(status_code)
        install_filters(self.deps.jinja)
        page = self.deps.jinja.get_template("console/error.html").render(
            status=status_code,
            message=message,
            user=self.current_user,
            static=static_url,
            nav="",
            xsrf_form_html=self.xsrf_form_html,
            csrf="",
            flash="",
            errors={},
        )
        self.finish(page)


class ConsoleApi(ConsoleMixin, JsonHandler):
    """JSON under /api/admin/: `{"code","message"}` on every error, 401 when not logged in."""

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(jsonable(data), ensure_ascii=False, separators=(",", ":")))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        extra = getattr(exc, "extra", None)
        if isinstance(exc, ServiceError) and isinstance(extra, dict):
            self.set_status(exc.status)
            self.finish(json.dumps({"code": exc.code, "message": exc.message, **extra}, ensure_ascii=False))
            return
        if isinstance(exc, tornado.web.HTTPError) and status_code == 403 and "_xsrf" in (exc.log_message or ""):
            self.set_status(403)
            self.finish(
                json.dumps({"code": "csrf_failed", "message": "请求来源无法确认，请刷新页面后重试"}, ensure_ascii=False)
            )
            return
        super().write_error(status_code, **kwargs)
