"""Users and their mailboxes: look-up by id, login or a host application's external id."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, tuple_

from falcana_core.addresses import AddressError, has_control_chars, normalise_address
from falcana_core.i18n import Domain, LazyText
from falcana_core.models import Mailbox, MailboxKind, Role, User, UserSearchTerm, WebSession
from falcana_core.search import prefix_range, query_words

if TYPE_CHECKING:
    from argon2 import PasswordHasher
    from sqlalchemy.orm import Session

    from falcana_core.store import Store

_ = Domain("core", Path(__file__).parent / "locale")


def end_sessions(s: Session, user_id: int) -> int:
    """Sign the user out everywhere (logout of all browsers, password change)."""
    result = s.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)



@dataclasses.dataclass
class InputError(ValueError):
    """Bad input, naming the field; the message is translated when shown."""

    field: str
    message: LazyText

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@functools.cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


def _check_text(field: str, value: str, *, required: bool = False, max_len: int = 150) -> str:
    value = value.strip()
    if has_control_chars(value):
        raise InputError(field, _("Control characters (such as line breaks) are not allowed."))
    if required and not value:
        raise InputError(field, _("This field is required."))
    if len(value) > max_len:
        raise InputError(field, _("At most {n} characters.", n=max_len))
    return value


class Users:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, login: str, *, first_name: str = "", last_name: str = "", email: str = "",
            role: str = Role.USER.value, password: str | None = None,
            external_id: str | None = None, actor: str = "api") -> User:
        """Create a user and the user's personal mailbox (address = the user's e-mail)."""
        login = _check_text("login", login, required=True)
        if any(c.isspace() for c in login):
            raise InputError("login", _("A login must not contain spaces."))
        first_name = _check_text("first_name", first_name)
        last_name = _check_text("last_name", last_name)
        if role not in {r.value for r in Role}:
            raise InputError("role", _("Role must be admin or user."))
        if email:
            try:
                email = normalise_address(email)
            except AddressError:
                raise InputError("email", _("This is not a valid e-mail address.")) from None
        with self._store.transaction() as s:
            if s.scalar(select(User.id).where(User.login == login)) is not None:
                raise InputError("login", _("The login {login} is taken.", login=login))
            if external_id and s.scalar(select(User.id).where(User.external_id == external_id)):
                raise InputError("external_id", _("This external id is taken."))
            user = User(login=login, first_name=first_name, last_name=last_name, email=email,
                        role=role, external_id=external_id or None,
                        password_hash=_hasher().hash(password) if password else None)
            s.add(user)
            s.flush()
            s.add(Mailbox(kind=MailboxKind.PERSONAL.value, user_id=user.id, address=email))
        self._store.audit.record(actor, "user.add", "user", str(user.id),
                                {"login": login, "role": role,
                                 "password": "changed" if password else "not set"})
        return user

    def get(self, user_id: int) -> User | None:
        with self._store.sessions() as s:
            return s.get(User, user_id)

    def by_login(self, login: str) -> User | None:
        with self._store.sessions() as s:
            return s.scalar(select(User).where(User.login == login))

    def by_external_id(self, external_id: str) -> User | None:
        with self._store.sessions() as s:
            return s.scalar(select(User).where(User.external_id == external_id))

    def list(self, search: str = "", *, offset: int = 0, limit: int = 50,
             after: int | None = None, before: int | None = None) -> tuple[list[User], int]:
        """A page of users (by last name, first name, login) and the total that match.

        ``after`` or ``before`` (a user's id) asks for the page after or before that user:
        read from the sort index, so the hundredth page costs what the first does (keyset
        paging). ``offset`` counts rows from the start; its cost grows with it."""
        query = select(User)
        words = query_words(search)
        for word in words:  # every typed word starts a form of a word of the user's
            t = UserSearchTerm
            query = query.where(User.id.in_(select(t.user_id).where(
                t.term.between(*prefix_range(word)))))
        key = (User.last_name, User.first_name, User.login)
        order: tuple[Any, ...] = key
        if words:
            # a search reads the terms' index and sorts the matches: walking the sort
            # index instead would look at every user before the first "Müller"
            # (``|| ''`` keeps the order and keeps the planner off that index)
            order = tuple(column.op("||")("") for column in key)
        with self._store.sessions() as s:
            total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
            anchor = None
            if after is not None or before is not None:
                anchor = s.execute(select(*key).where(User.id == (after or before))).first()
            if anchor is None:  # no anchor, or that user is gone: count from the start
                rows = list(s.scalars(query.order_by(*order).offset(offset).limit(limit)))
            elif after is not None:
                rows = list(s.scalars(query.where(tuple_(*key) > tuple_(*anchor))
                                      .order_by(*order).limit(limit)))
            else:
                rows = list(s.scalars(query.where(tuple_(*key) < tuple_(*anchor))
                                      .order_by(*(k.desc() for k in order)).limit(limit)))
                rows.reverse()
            return rows, total

    def set_role(self, login: str, role: str, *, actor: str) -> User:
        if role not in {r.value for r in Role}:
            raise InputError("role", _("Role must be admin or user."))
        with self._store.transaction() as s:
            user = s.scalar(select(User).where(User.login == login))
            if user is None:
                raise InputError("login", _("No user with the login {login}.", login=login))
            old, user.role = user.role, role
        self._store.audit.record(actor, "user.set_role", "user", str(user.id),
                                {"role": [old, role]})
        return user

    def rename(self, login: str, *, first_name: str, last_name: str, actor: str) -> User:
        with self._store.transaction() as s:
            user = s.scalar(select(User).where(User.login == login))
            if user is None:
                raise InputError("login", _("No user with the login {login}.", login=login))
            user.first_name = _check_text("first_name", first_name)
            user.last_name = _check_text("last_name", last_name)
        self._store.audit.record(actor, "user.rename", "user", str(user.id))
        return user

    def set_password(self, login: str, password: str, *, actor: str) -> None:
        with self._store.transaction() as s:
            user = s.scalar(select(User).where(User.login == login))
            if user is None:
                raise InputError("login", _("No user with the login {login}.", login=login))
            user.password_hash = _hasher().hash(password)
            end_sessions(s, user.id)  # every browser signed in with the old one is out
        self._store.audit.record(actor, "user.set_password", "user", str(user.id),
                                {"password": "changed"})

    def authenticate(self, login: str, password: str) -> User | None:
        """The active user with this login and password, else None (constant-ish time)."""
        from argon2.exceptions import VerificationError

        user = self.by_login(login)
        hasher = _hasher()
        if user is None or not user.active or not user.password_hash:
            with contextlib.suppress(VerificationError):
                hasher.verify(_dummy_hash(), password)
            return None
        try:
            hasher.verify(user.password_hash, password)
        except VerificationError:
            return None
        return user


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash("falcana-dummy-password")


class Mailboxes:
    def __init__(self, store: Store, users: Users) -> None:
        self._store = store
        self._users = users

    def get(self, mailbox_id: int) -> Mailbox | None:
        with self._store.sessions() as s:
            return s.get(Mailbox, mailbox_id)

    def find_personal(self, user: User) -> Mailbox | None:
        """The user's personal mailbox if it exists (nothing is created)."""
        with self._store.sessions() as s:
            return s.scalar(select(Mailbox).where(Mailbox.user_id == user.id))

    def personal(self, user: User) -> Mailbox:
        """The user's personal mailbox, created on first use."""
        with self._store.transaction() as s:
            box = s.scalar(select(Mailbox).where(Mailbox.user_id == user.id))
            if box is None:
                box = Mailbox(kind=MailboxKind.PERSONAL.value, user_id=user.id,
                              address=user.email)
                s.add(box)
                s.flush()
                s.refresh(box)
            return box

    def shared(self) -> list[Mailbox]:
        with self._store.sessions() as s:
            return list(s.scalars(select(Mailbox).where(
                Mailbox.kind == MailboxKind.SHARED.value).order_by(Mailbox.address)).all())

    def shared_by_address(self, address: str) -> Mailbox | None:
        try:
            address = normalise_address(address)
        except AddressError:
            return None
        with self._store.sessions() as s:
            return s.scalar(select(Mailbox).where(Mailbox.kind == MailboxKind.SHARED.value,
                                                  Mailbox.address == address))

    def create_shared(self, address: str, display_name: str = "", *, actor: str) -> Mailbox:
        try:
            address = normalise_address(address)
        except AddressError:
            raise InputError("email", _("This is not a valid e-mail address.")) from None
        display_name = _check_text("display_name", display_name, max_len=255)
        if self.shared_by_address(address) is not None:
            raise InputError("email", _("A shared mailbox {address} exists already.",
                                        address=address))
        with self._store.transaction() as s:
            box = Mailbox(kind=MailboxKind.SHARED.value, address=address,
                          display_name=display_name)
            s.add(box)
            s.flush()
            s.refresh(box)
        self._store.audit.record(actor, "mailbox.create_shared", "mailbox", str(box.id),
                                {"address": address})
        return box

    def resolve(self, ref: str) -> Mailbox | None:
        """A CLI reference: a user's login (personal mailbox) or a shared mailbox's address."""
        user = self._users.by_login(ref)
        if user is not None:
            return self.personal(user)
        if "@" in ref:
            return self.shared_by_address(ref)
        return None
