"""Members and mini-program users: the roster editors import (roster, admin, store), binding a user to a
member once (binding), mini-program users and their sessions (users_store, sessions, sessions_live)."""
