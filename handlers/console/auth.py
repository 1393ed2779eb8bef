"""Logging in and out, switching the working org, one's own password, and who am I (JSON)."""

from __future__ import annotations

from typing import ClassVar

from core.errors import BadInput, ServiceError
from handlers.console.base import SESSION_COOKIE, ConsoleApi, ConsolePage
from handlers.console.render import field_errors
from services.editors import auth as console_auth


def safe_next(url: str | None, default: str = "/admin/") -> str:
    """Only our own console pages: never an open redirect to another site."""
    if url and url.startswith("/admin") and not url.startswith("//") and "\\" not in url and "\n" not in url:
        return url
    return default


class LoginPage(ConsolePage):
    public: ClassVar[bool] = True

    async def get(self) -> None:
        next_url = safe_next(self.get_query_argument("next", None))
        if self.session is not None:
            self.redirect(next_url)
            return
        await self.render_page("console/login.html", next_url=next_url, username="")

    async def post(self) -> None:
        username = self.get_body_argument("username", "")
        next_url = safe_next(self.get_body_argument("next", None))
        try:
            session, _ = await console_auth.login(
                self.deps, username, self.get_body_argument("password", ""), self.client_ip()
            )
        except ServiceError as exc:
            await self.render_page(
                "console/login.html", status=exc.status, next_url=next_url, username=username, errors=field_errors(exc)
            )
            return
        self.set_session_cookie(session.token)
        self.redirect(next_url, status=303)


class LogoutPage(ConsolePage):
    viewer_may_post: ClassVar[bool] = True
    vendor_allowed: ClassVar[bool] = True

    async def post(self) -> None:
        assert self.session is not None
        await console_auth.logout(self.deps, self.session, self.client_ip())
        self.clear_cookie(SESSION_COOKIE, path="/")
        self.redirect("/admin/login", status=303)


class OrgSwitchPage(ConsolePage):
    """The org switcher in the header posts here; the next page shows the chosen org's subtree."""

    viewer_may_post: ClassVar[bool] = True

    async def post(self) -> None:
        assert self.session is not None
        await console_auth.switch_org(self.deps, self.session, self.get_body_argument("org", ""))
        self.redirect(safe_next(self.get_body_argument("next", None)), status=303)


class PasswordPage(ConsolePage):
    viewer_may_post: ClassVar[bool] = True
    vendor_allowed: ClassVar[bool] = True

    async def get(self) -> None:
        await self.render_page("console/password.html")

    async def post(self) -> None:
        assert self.session is not None
        new = self.get_body_argument("password", "")
        try:
            if new != self.get_body_argument("password2", ""):
                raise BadInput("两次输入的新密码不一致", code="password2")
            await console_auth.change_own_password(
                self.deps, self.session, self.get_body_argument("old_password", ""), new, self.client_ip()
            )
        except ServiceError as exc:
            fields = {"old_password": "old_password", "password": "password", "password2": "password2"}
            await self.render_page("console/password.html", status=exc.status, errors=field_errors(exc, fields))
            return
        self.flash("密码已修改")
        self.redirect("/admin/", status=303)


class MeApi(ConsoleApi):
    vendor_allowed: ClassVar[bool] = True  # one's own account and CSRF token

    async def get(self) -> None:
        e = self.scope.editor
        self.write_json(
            {
                "username": e.username,
                "name": e.name,
                "role": e.role,
                "org": e.org,
                "working_org": self.scope.org,
                "csrf": self.session.csrf if self.session else "",
            }
        )


routes = [
    (r"/admin/login", LoginPage),
    (r"/admin/logout", LogoutPage),
    (r"/admin/org", OrgSwitchPage),
    (r"/admin/password", PasswordPage),
    (r"/api/admin/me", MeApi),
]
