"""Secrets at rest: a Fernet key ring outside the database, one table for every secret.

The key ring comes from ``FALCANA_SECRET_KEY`` (comma-separated keys) or a key file created
with mode 0600 in the data directory, and only when the database holds no secret yet. The
database keeps a check value per key, so a missing, malformed or different key is a clear
start-up error instead of a quietly made new key.

Rotation works in two phases across machines: ``keys add`` (the new key joins every
machine's ring), ``keys rotate`` (re-encrypt everything, batch by batch: an interruption
leaves each secret under the old or the new key, both readable), ``keys retire``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from falcana_core.models import SecretKey, StoredSecret, utcnow

_CHECK_PLAINTEXT = b"falcana key check v1"


class SecretValue:
    """A secret in memory: ``repr`` and ``str`` are masked, so a traceback never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plain value, for the one place that needs it (e.g. SMTP AUTH)."""
        return self._value

    def __repr__(self) -> str:
        return "SecretValue('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("SecretValue", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("secret values cannot be pickled")


class SecretKeyError(Exception):
    """The key ring does not fit the database; the message says what to do."""




class SecretDecryptError(Exception):
    """A stored secret does not decrypt with the key ring; no value or ciphertext is shown."""


def key_id_of(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


class KeyRing:
    """Fernet keys by key id. Which one encrypts is the database's primary key."""

    def __init__(self, keys: Sequence[bytes], source: str) -> None:
        self.source = source
        self._keys: dict[str, Fernet] = {}
        self._raw: dict[str, bytes] = {}
        for key in keys:
            try:
                fernet = Fernet(key)
            except (ValueError, TypeError):
                raise SecretKeyError(
                    f"{source} holds a malformed key: expected 32 url-safe base64 bytes "
                    "(as made by `falcana keys add`)"
                ) from None
            kid = key_id_of(key)
            self._keys[kid] = fernet
            self._raw[kid] = key

    @classmethod
    def parse(cls, text: str, source: str) -> KeyRing:
        parts = [p.strip() for p in text.replace("\n", ",").split(",")]
        return cls([p.encode() for p in parts if p and not p.startswith("#")], source)

    def __contains__(self, key_id: str) -> bool:
        return key_id in self._keys

    def __bool__(self) -> bool:
        return bool(self._keys)

    def ids(self) -> list[str]:
        return list(self._keys)

    def fernet(self, key_id: str) -> Fernet:
        return self._keys[key_id]

    def raw(self, key_id: str) -> bytes:
        return self._raw[key_id]


class SecretStore:
    """Encrypts, stores, reads and rotates secrets. Values go in and out as ``SecretValue``."""

    def __init__(self, sessions: sessionmaker[Session], ring: KeyRing, primary: str,
                 key_file: Path | None) -> None:
        self._sessions = sessions
        self.ring = ring
        self.primary = primary
        self.key_file = key_file
        self.env_key: str | None = None

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def open(cls, sessions: sessionmaker[Session], *, env_key: str | None,
             key_file: Path, repair: bool = False) -> SecretStore:
        """Load the key ring and check it against the database (see module docstring).

        ``repair``: open even when the ring lacks keys the database needs, so that
        ``falcana keys add --stdin`` can bring the missing key back (nothing is decrypted
        or encrypted on the way)."""
        with sessions() as s:
            known = {k.key_id: k for k in s.scalars(select(SecretKey)).all()}
            secret_count = s.scalar(select(func.count()).select_from(StoredSecret)) or 0
            used = set(s.scalars(select(StoredSecret.key_id).distinct()).all())

        if env_key:
            ring, file = KeyRing.parse(env_key, "FALCANA_SECRET_KEY"), None
        elif key_file.exists():
            ring, file = KeyRing.parse(key_file.read_text(encoding="ascii"),
                                       f"key file {key_file}"), key_file
        else:
            ring, file = KeyRing([], f"key file {key_file}"), key_file

        if not ring and repair and (known or secret_count):
            pass  # an empty ring: the repair adds the key the database needs
        elif not ring:
            if known or secret_count:
                wanted = next((k for k, v in known.items() if v.is_primary), "?")
                raise SecretKeyError(
                    f"the database holds secrets encrypted with key {wanted}, but no key was "
                    f"found: set FALCANA_SECRET_KEY or restore {key_file} from the machine "
                    "that holds it (no new key was made)"
                )
            key = Fernet.generate_key()
            _write_key_file(key_file, [key])
            ring, file = KeyRing([key], f"key file {key_file}"), key_file

        primary_row = next((k for k in known.values() if k.is_primary), None)
        if primary_row is None and secret_count:
            raise SecretKeyError("the database holds secrets but no key check value; "
                            "it was not made by falcana or was damaged")
        if primary_row is not None and repair:
            primary = primary_row.key_id
        elif primary_row is not None:
            if primary_row.key_id not in ring:
                raise SecretKeyError(
                    f"the key ring ({ring.source}) does not hold key {primary_row.key_id} "
                    "that this database's secrets are encrypted with: wrong or missing key; "
                    "copy the key from a machine of this deployment (no new key was made)"
                )
            try:
                ring.fernet(primary_row.key_id).decrypt(primary_row.check_value)
            except InvalidToken:
                raise SecretKeyError(f"key {primary_row.key_id} fails the database's key check"
                                ) from None
            missing = sorted(kid for kid in used if kid not in ring)
            if missing:
                raise SecretKeyError(
                    f"some secrets are encrypted with key(s) {', '.join(missing)} that the key "
                    f"ring ({ring.source}) lacks: add them (`falcana keys add --stdin`)"
                )
            primary = primary_row.key_id
        else:
            primary = ring.ids()[0]

        store = cls(sessions, ring, primary, file)
        store.env_key = env_key
        store._record_keys(known, make_primary=primary_row is None)
        return store

    def _record_keys(self, known: dict[str, SecretKey], *, make_primary: bool) -> None:
        with self._sessions.begin() as s:
            for kid in self.ring.ids():
                if kid not in known:
                    s.add(SecretKey(
                        key_id=kid,
                        check_value=self.ring.fernet(kid).encrypt(_CHECK_PLAINTEXT),
                        is_primary=make_primary and kid == self.primary,
                    ))

    # -- values ------------------------------------------------------------------------

    def put(self, owner: str, purpose: str, ref: str, value: SecretValue | str,
            session: Session | None = None) -> None:
        plain = value.reveal() if isinstance(value, SecretValue) else value
        with self._session(session) as s:
            primary = self._primary(s)  # another process may have rotated meanwhile
            token = self.ring.fernet(primary).encrypt(plain.encode("utf-8"))
            row = s.scalar(select(StoredSecret).where(
                StoredSecret.owner == owner, StoredSecret.purpose == purpose,
                StoredSecret.ref == ref))
            if row is None:
                s.add(StoredSecret(owner=owner, purpose=purpose, ref=ref, ciphertext=token,
                                   key_id=primary))
            else:
                row.ciphertext, row.key_id, row.updated_at = token, primary, utcnow()

    def _primary(self, s: Session) -> str:
        """The primary key as the database says now (``keys rotate`` in another process
        changes it), loaded into this ring from the key file if it is new here."""
        current = s.scalar(select(SecretKey.key_id).where(SecretKey.is_primary.is_(True)))
        if current is None:
            return self.primary
        if current not in self.ring:
            self.reload()
        if current not in self.ring:
            raise SecretKeyError(
                f"key {current} is now the primary key, but this process's key ring "
                f"({self.ring.source}) does not hold it: add it to every machine's ring")
        self.primary = current
        return current

    def reload(self) -> None:
        """Read the key ring again (a key added or retired by another process)."""
        if self.env_key:
            return  # keys from the environment change only with a restart
        if self.key_file is not None and self.key_file.exists():
            self.ring = KeyRing.parse(self.key_file.read_text(encoding="ascii"),
                                      f"key file {self.key_file}")

    def put_bound(self, owner: str, purpose: str, ref: str, value: SecretValue | str,
                  bound_to: Mapping[str, object], session: Session | None = None) -> None:
        """A secret encrypted together with where it may be used (server, port, user ...):
        whoever can change those settings but cannot read the secret cannot move it."""
        plain = value.reveal() if isinstance(value, SecretValue) else value
        self.put(owner, purpose, ref, json.dumps({"password": plain, "for": dict(bound_to)},
                                                 ensure_ascii=False), session=session)

    def get_bound(self, owner: str, purpose: str, ref: str, session: Session | None = None
                  ) -> tuple[SecretValue, dict[str, object] | None] | None:
        """The secret and where it may be used; the place is None for a secret stored
        plainly (before it was bound)."""
        raw = self.get(owner, purpose, ref, session=session)
        if raw is None:
            return None
        try:
            doc = json.loads(raw.reveal())
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or "password" not in doc:
            return raw, None
        bound = doc.get("for")
        return SecretValue(str(doc["password"])), bound if isinstance(bound, dict) else {}

    def get(self, owner: str, purpose: str, ref: str,
            session: Session | None = None) -> SecretValue | None:
        with self._session(session) as s:
            row = s.scalar(select(StoredSecret).where(
                StoredSecret.owner == owner, StoredSecret.purpose == purpose,
                StoredSecret.ref == ref))
            if row is None:
                return None
            return SecretValue(self._decrypt(row).decode("utf-8"))

    def has(self, owner: str, purpose: str, ref: str, session: Session | None = None) -> bool:
        with self._session(session) as s:
            return s.scalar(select(StoredSecret.id).where(
                StoredSecret.owner == owner, StoredSecret.purpose == purpose,
                StoredSecret.ref == ref)) is not None

    def delete(self, owner: str, purpose: str, ref: str, session: Session | None = None) -> bool:
        with self._session(session) as s:
            result = s.execute(delete(StoredSecret).where(
                StoredSecret.owner == owner, StoredSecret.purpose == purpose,
                StoredSecret.ref == ref))
            return bool(getattr(result, "rowcount", 0))

    def _decrypt(self, row: StoredSecret) -> bytes:
        if row.key_id not in self.ring:
            self.reload()  # rotated to a key another process added
        if row.key_id not in self.ring:
            raise SecretDecryptError(
                f"secret {row.owner}/{row.purpose}/{row.ref} is encrypted with key "
                f"{row.key_id}, which is not in the key ring")
        try:
            return self.ring.fernet(row.key_id).decrypt(row.ciphertext)
        except InvalidToken:
            raise SecretDecryptError(
                f"secret {row.owner}/{row.purpose}/{row.ref} does not decrypt with key "
                f"{row.key_id}") from None

    @contextlib.contextmanager
    def _session(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
            return
        with self._sessions.begin() as s:
            yield s

    # -- keys --------------------------------------------------------------------------

    def add_key(self, key: bytes | None = None) -> tuple[str, bytes]:
        """Phase 1: a new key joins this machine's ring (not yet used to encrypt)."""
        key = key or Fernet.generate_key()
        ring = KeyRing([*(self.ring.raw(k) for k in self.ring.ids()), key], self.ring.source)
        kid = key_id_of(key)
        if self.key_file is not None and kid not in self.ring:
            _write_key_file(self.key_file, [ring.raw(k) for k in ring.ids()])
        self.ring = ring
        self._record_keys(self._known(), make_primary=False)
        return kid, key

    def rotate(self, to_key: str | None = None, *, batch_size: int = 500,
               progress: Callable[[int, int], None] | None = None) -> int:
        """Phase 2: make ``to_key`` primary and re-encrypt every secret, batch by batch."""
        target = to_key or self._newest_key()
        if target not in self.ring:
            raise SecretKeyError(f"key {target} is not in this machine's key ring; "
                            "run `falcana keys add` first")
        with self._sessions.begin() as s:
            for key_row in s.scalars(select(SecretKey)):
                key_row.is_primary = key_row.key_id == target
        self.primary = target
        with self._sessions() as s:
            total = s.scalar(select(func.count()).select_from(StoredSecret)
                             .where(StoredSecret.key_id != target)) or 0
        done = 0
        while True:
            with self._sessions.begin() as s:
                rows = s.scalars(select(StoredSecret).where(StoredSecret.key_id != target)
                                 .order_by(StoredSecret.id).limit(batch_size)
                                 .with_for_update(skip_locked=True)).all()
                if not rows:
                    break
                fernet = self.ring.fernet(target)
                for row in rows:
                    row.ciphertext = fernet.encrypt(self._decrypt(row))
                    row.key_id = target
            done += len(rows)
            if progress:
                progress(done, total)
        return done

    def retire(self, key_id: str) -> None:
        """Phase 3: forget a key no secret uses any more."""
        with self._sessions.begin() as s:
            row = s.get(SecretKey, key_id)
            if row is None:
                raise SecretKeyError(f"no key {key_id} is known to the database")
            if row.is_primary:
                raise SecretKeyError(f"key {key_id} is the primary key; rotate to another first")
            in_use = s.scalar(select(func.count()).select_from(StoredSecret)
                              .where(StoredSecret.key_id == key_id)) or 0
            if in_use:
                raise SecretKeyError(f"{in_use} secret(s) still use key {key_id}; "
                                "finish `falcana keys rotate` first")
            row.retired = True
        if key_id in self.ring:
            keep = [self.ring.raw(k) for k in self.ring.ids() if k != key_id]
            if self.key_file is not None:
                _write_key_file(self.key_file, keep)
            self.ring = KeyRing(keep, self.ring.source)

    def key_status(self) -> list[dict[str, object]]:
        with self._sessions() as s:
            counts: dict[str, int] = {
                kid: n for kid, n in s.execute(select(StoredSecret.key_id, func.count())
                                               .group_by(StoredSecret.key_id))}
            rows = s.scalars(select(SecretKey).order_by(SecretKey.created_at)).all()
            return [{
                "key_id": r.key_id,
                "primary": r.is_primary,
                "retired": r.retired,
                "in_this_ring": r.key_id in self.ring,
                "secrets": counts.get(r.key_id, 0),
                "created_at": r.created_at.isoformat() if isinstance(r.created_at, dt.datetime)
                else str(r.created_at),
            } for r in rows]

    def _known(self) -> dict[str, SecretKey]:
        with self._sessions() as s:
            return {k.key_id: k for k in s.scalars(select(SecretKey)).all()}

    def _newest_key(self) -> str:
        known = self._known()
        candidates = [k for k in self.ring.ids() if k in known and not known[k].retired]
        if not candidates:
            raise SecretKeyError("the key ring holds no usable key")
        return max(candidates, key=lambda k: (known[k].created_at, k))


def _write_key_file(path: Path, keys: Sequence[bytes]) -> None:
    """Write the ring atomically, readable by the owner only (0600 from the start)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write("# falcana secret keys: keep this file secret and backed up\n")
        for key in keys:
            fh.write(key.decode("ascii") + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
