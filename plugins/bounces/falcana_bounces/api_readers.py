"""Reading the inbox through a mail API, for a mailbox that sends through Microsoft Graph
or the Gmail API and has no IMAP settings, where the admin chose it (the OAuth client's
"Read delivery reports through ...": Mail.Read, gmail.readonly).

The rules are the IMAP look's: only what is new (Graph's delta link, the Gmail API's
history id; a first look goes back ``FIRST_LOOK_DAYS``), the few headers that decide
first, the whole message only of a candidate and at most ``MAX_REPORT`` bytes of it,
nothing in the mailbox changed (both APIs are only asked with GET). Every request goes
through the core's gate with the mailbox's own token, and only to the API's configured
base URL: a next link that points anywhere else is refused, the token never follows it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import email
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from falcana_bounces.i18n import _
from falcana_bounces.inbox import FIRST_LOOK_DAYS, MAX_BODIES
from falcana_bounces.reports import CANDIDATE_HEADERS, MAX_REPORT, is_candidate
from falcana_core.api import FailureKind, Step, StepStatus, Text, current_language, printable
from falcana_core.api import text_in as text_in_language
from falcana_core.api.net import HttpAnswer, HttpFailure, PolicyHttp, cancellation

if TYPE_CHECKING:
    from falcana_oauth import AccessToken, OAuthApi

    from falcana_core.api import Host, Mailbox

MAX_PAGES = 50  # list pages one look reads; the next look goes on from where it stopped
MAX_LISTED = 5000  # messages whose headers one look reads
#: an answer that carries a report: Gmail's is base64url in JSON (4 bytes for every 3)
MAX_ANSWER = MAX_REPORT * 4 // 3 + 64 * 1024


@dataclasses.dataclass
class Fetched:
    """What one look through an API read: the candidates' contents, where it got to."""

    position: str | None  # None: where it started (nothing was read)
    looked_at: int = 0
    reports: list[tuple[str, bytes]] = dataclasses.field(default_factory=list)
    too_large: list[str] = dataclasses.field(default_factory=list)


class ReadFailed(Exception):
    """A step of the look failed: its id, kind and what to do (in the reader's words)."""

    def __init__(self, step: str, kind: FailureKind, cause: Text, fix: Text,
                 detail: str = "") -> None:
        super().__init__(detail or step)
        self.step, self.kind, self.cause, self.fix, self.detail = step, kind, cause, fix, \
            detail

    def as_dict(self) -> dict[str, Any]:
        lang = current_language()
        return {"step": self.step, "kind": self.kind.value, "detail": self.detail,
                "explanation": {"cause": text_in_language(self.cause, lang),
                                "fix": text_in_language(self.fix, lang)}}


class ApiReader:
    """One look at a mailbox's inbox through its mail API."""

    name = ""
    label: Text = ""
    permission = ""  # what the token needs, as the admin grants it
    headers: dict[str, str] = {}  # what the API's requests carry beside the token

    def __init__(self, host: Host, mailbox: Mailbox, api: OAuthApi,
                 deadline: float) -> None:
        self.host = host
        self.mailbox = mailbox
        self.base = api.base_url.rstrip("/")
        self.deadline = deadline
        self.steps: list[Step] = []
        self.token: AccessToken | None = None
        self.http = PolicyHttp(host.config.net_policy, ca_bundle=host.config.ca_bundle,
                               timeout=host.config.net_timeout, max_answer=MAX_ANSWER)
        self._abort = cancellation.register(self.http.abort)

    def close(self) -> None:
        cancellation.unregister(self._abort)
        self.http.close()

    def read(self, position: str | None, today: dt.date) -> Fetched:
        raise NotImplementedError

    # -- requests ------------------------------------------------------------------------

    def _token(self, rejected: AccessToken | None = None) -> AccessToken:
        from falcana_oauth import OAuthError
        from falcana_oauth.service import oauth

        started = time.perf_counter()
        try:
            self.token = oauth(self.host).access_token(
                self.mailbox, rejected=rejected.token if rejected else None,
                deadline=self.deadline)
        except OAuthError as error:
            self._step("bounces.token", started, StepStatus.FAILED, {"error": error.code})
            raise ReadFailed("bounces.token", FailureKind.TOKEN, error.cause, error.fix,
                             error.code) from None
        self._step("bounces.token", started, StepStatus.OK, {"source": self.token.source})
        return self.token

    def _step(self, step_id: str, started: float, status: StepStatus,
              detail: dict[str, Any]) -> None:
        self.steps.append(Step(step_id, status, (time.perf_counter() - started) * 1000, None,
                               detail))

    def get(self, step: str, url: str, *, query: dict[str, Any] | None = None) -> HttpAnswer:
        """GET below the API's base URL with the mailbox's token; a 401 renews it once."""
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query, doseq=True)
        if not (url.startswith(self.base + "/") and self.base.startswith("https://")):
            raise ReadFailed(step, FailureKind.OTHER, _(
                "The mail API pointed the look at another address ({url}); the token is "
                "sent only to {base}.", url=printable(url[:200]), base=self.base), _(
                "Check the API endpoint in the OAuth2 client's settings."), "foreign link")
        token = self.token or self._token()
        answer = self._get(step, url, token)
        if answer.status == 401:
            answer = self._get(step, url, self._token(rejected=token))
        if answer.status != 200:
            raise self.refused(step, answer)
        return answer

    def _get(self, step: str, url: str, token: AccessToken) -> HttpAnswer:
        started = time.perf_counter()
        try:
            answer = self.http.get(url, headers={
                **self.headers, "Authorization": f"Bearer {token.token.reveal()}",
                "Accept": "application/json"}, deadline=self.deadline)
        except HttpFailure as failure:
            self._step(step, started, StepStatus.FAILED, {"error": printable(failure.detail)})
            raise ReadFailed(step, failure.kind, _(
                "{api} could not be reached to read the inbox: {detail}", api=self.label,
                detail=printable(failure.detail, 200)), _(
                "It is tried again at the next look; if it stays, check the API endpoint "
                "in the OAuth2 client's settings and the network."),
                printable(failure.detail)) from None
        self._step(step, started, StepStatus.OK if answer.status == 200
                   else StepStatus.FAILED, {"status": answer.status})
        return answer

    def refused(self, step: str, answer: HttpAnswer) -> ReadFailed:
        error = _json(answer.body).get("error")
        code = str(error.get("code") or error.get("status") or "") \
            if isinstance(error, dict) else ""
        detail = printable(f"{answer.status} {code}".strip(), 200)
        if answer.status in (401, 403):
            return ReadFailed(step, FailureKind.REPLY, _(
                "{api} does not let this mailbox's sign-in read its inbox ({detail}).",
                api=self.label, detail=detail), _(
                "Grant {permission} (see the OAuth2 client's help); a user who signed in "
                "before signs in again. Or enter IMAP settings under \"Copy in Sent "
                "(IMAP)\".", permission=self.permission), detail)
        return ReadFailed(step, FailureKind.REPLY, _(
            "{api} answered {detail} while the inbox was read.", api=self.label,
            detail=detail), _("It is tried again at the next look."), detail)

    def json(self, step: str, url: str, *, query: dict[str, Any] | None = None
             ) -> dict[str, Any]:
        found = _json(self.get(step, url, query=query).body)
        if not found:
            raise ReadFailed(step, FailureKind.REPLY, _(
                "{api} gave an answer that is no JSON object.", api=self.label),
                _("It is tried again at the next look."), "not json")
        return found

    def body(self, step: str, url: str, *, query: dict[str, Any] | None = None
             ) -> bytes | None:
        """A report's bytes; None when it is larger than ``MAX_REPORT`` (skipped, counted)."""
        try:
            return self.get(step, url, query=query).body
        except ReadFailed as failed:
            if "larger than" in failed.detail:
                return None
            raise


def _json(body: bytes) -> dict[str, Any]:
    try:
        found = json.loads(body.decode("utf-8", "replace") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _headers(pairs: Iterator[tuple[str, str]]) -> email.message.Message:
    """The deciding headers as a message for ``is_candidate``."""
    lines = "".join(f"{name}: {' '.join(str(value).split())}\r\n" for name, value in pairs
                    if name.lower() in {h.lower() for h in CANDIDATE_HEADERS})
    return email.message_from_string(lines + "\r\n")


class GraphReader(ApiReader):
    """Microsoft Graph: the Inbox's delta query (subject and sender), the MIME of a
    candidate with ``$value`` (Mail.Read)."""

    name = "graph"
    label = _("Microsoft Graph")
    permission = "Mail.Read"
    headers = {"Prefer": "odata.maxpagesize=100"}  # the delta query's page size

    def read(self, position: str | None, today: dt.date) -> Fetched:
        user = urllib.parse.quote(self.mailbox.address, safe="@")
        url = position
        query = None
        if not url:
            since = (today - dt.timedelta(days=FIRST_LOOK_DAYS)).isoformat()
            url = f"{self.base}/v1.0/users/{user}/mailFolders/inbox/messages/delta"
            query = {"$select": "subject,from,sender,internetMessageId,receivedDateTime",
                     "$filter": f"receivedDateTime ge {since}T00:00:00Z"}
        fetched = Fetched(None)
        for _page in range(MAX_PAGES):
            page = self.json("bounces.list", url, query=query)
            query = None
            for item in page.get("value") or []:
                if not isinstance(item, dict) or "@removed" in item or not item.get("id"):
                    continue
                fetched.looked_at += 1
                if not is_candidate(_headers(self._pairs(item))):
                    continue
                raw = self.body("bounces.fetch", f"{self.base}/v1.0/users/{user}/messages/"
                                f"{urllib.parse.quote(str(item['id']), safe='')}/$value")
                if raw is None:
                    fetched.too_large.append(str(item["id"]))
                else:
                    fetched.reports.append((str(item["id"])[:200], raw))
            next_link = self._ours(page.get("@odata.nextLink"))
            delta = self._ours(page.get("@odata.deltaLink"))
            if isinstance(delta, str):
                fetched.position = delta
                return fetched
            if not isinstance(next_link, str):
                break
            url = next_link
            fetched.position = url  # a look cut short goes on from this page
            if len(fetched.reports) >= MAX_BODIES or fetched.looked_at >= MAX_LISTED:
                return fetched
        return fetched

    def _ours(self, link: Any) -> str | None:
        """A next or delta link, kept only when it points below the API's base URL (the
        next look sends the token there)."""
        if link is None:
            return None
        if not isinstance(link, str) or not link.startswith(self.base + "/"):
            raise ReadFailed("bounces.list", FailureKind.OTHER, _(
                "The mail API pointed the look at another address ({url}); the token is "
                "sent only to {base}.", url=printable(str(link)[:200]), base=self.base), _(
                "Check the API endpoint in the OAuth2 client's settings."), "foreign link")
        return link

    @staticmethod
    def _pairs(item: dict[str, Any]) -> Iterator[tuple[str, str]]:
        for field, header in (("from", "From"), ("sender", "Return-Path")):
            found = (item.get(field) or {}).get("emailAddress") or {}
            if isinstance(found, dict):
                yield header, f"{found.get('name') or ''} <{found.get('address') or ''}>"
        yield "Subject", str(item.get("subject") or "")


class GmailReader(ApiReader):
    """The Gmail API: the Inbox's history since the last look (a first look lists the
    last days), a message's deciding headers (``format=metadata``), a candidate's whole
    message (``format=raw``); gmail.readonly."""

    name = "gmail_api"
    label = _("Gmail API")
    permission = "gmail.readonly"

    def read(self, position: str | None, today: dt.date) -> Fetched:
        base = f"{self.base}/gmail/v1/users/me"
        ids: list[str] = []
        fetched = Fetched(None)
        if position:
            try:
                fetched.position = self._history(base, position, ids)
            except ReadFailed as failed:
                if not failed.detail.startswith("404"):
                    raise
                ids.clear()  # the history is gone (a week): look back as the first time
                position = None
        if not position:
            profile = self.json("bounces.list", f"{base}/profile")
            fetched.position = str(profile.get("historyId") or "") or None
            since = (today - dt.timedelta(days=FIRST_LOOK_DAYS)).strftime("%Y/%m/%d")
            self._listed(base, since, ids)
        for message_id in dict.fromkeys(ids):
            if len(fetched.reports) >= MAX_BODIES:
                break  # the rest at the next look: the history goes on from here
            quoted = urllib.parse.quote(message_id, safe="")
            meta = self.json("bounces.headers", f"{base}/messages/{quoted}", query={
                "format": "metadata", "metadataHeaders": list(CANDIDATE_HEADERS)})
            fetched.looked_at += 1
            headers = (meta.get("payload") or {}).get("headers") or []
            pairs = ((str(h.get("name")), str(h.get("value"))) for h in headers
                     if isinstance(h, dict))
            if not is_candidate(_headers(pairs)):
                continue
            if int(meta.get("sizeEstimate") or 0) > MAX_REPORT:
                fetched.too_large.append(message_id)
                continue
            answer = self.body("bounces.fetch", f"{base}/messages/{quoted}",
                               query={"format": "raw"})
            raw = _raw(answer) if answer is not None else None
            if raw is None or len(raw) > MAX_REPORT:
                fetched.too_large.append(message_id)
            else:
                fetched.reports.append((message_id[:200], raw))
        return fetched

    def _history(self, base: str, start: str, ids: list[str]) -> str:
        """The Inbox's new messages since ``start``; returns the newest history id."""
        newest = start
        query: dict[str, Any] = {"startHistoryId": start, "historyTypes": "messageAdded",
                                 "labelId": "INBOX", "maxResults": 500}
        for _page in range(MAX_PAGES):
            page = self.json("bounces.list", f"{base}/history", query=query)
            for entry in page.get("history") or []:
                for added in (entry or {}).get("messagesAdded") or []:
                    message = (added or {}).get("message") or {}
                    if "INBOX" in (message.get("labelIds") or []) and message.get("id"):
                        ids.append(str(message["id"]))
            newest = str(page.get("historyId") or newest)
            token = page.get("nextPageToken")
            if not token or len(ids) >= MAX_LISTED:
                break
            query = {**query, "pageToken": token}
        return newest

    def _listed(self, base: str, since: str, ids: list[str]) -> None:
        query: dict[str, Any] = {"q": f"in:inbox after:{since}", "maxResults": 500}
        for _page in range(MAX_PAGES):
            page = self.json("bounces.list", f"{base}/messages", query=query)
            ids.extend(str(m["id"]) for m in page.get("messages") or []
                       if isinstance(m, dict) and m.get("id"))
            token = page.get("nextPageToken")
            if not token or len(ids) >= MAX_LISTED:
                return
            query = {**query, "pageToken": token}


def _raw(body: bytes) -> bytes | None:
    value = _json(body).get("raw")
    if not isinstance(value, str):
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


READERS: dict[str, type[ApiReader]] = {GraphReader.name: GraphReader,
                                       GmailReader.name: GmailReader}


def api_for(host: Host, mailbox: Mailbox) -> OAuthApi | None:
    """The mail API whose token may read this mailbox's inbox: it sends through it, and
    the admin chose to read delivery reports there."""
    if mailbox.transport not in READERS:
        return None
    from falcana_oauth.service import oauth

    service = oauth(host)
    row = service.connection(mailbox.id)
    provider = service.providers().get(row.provider) if row is not None else None
    api = provider.api(mailbox.transport) if provider is not None else None
    return api if api is not None and api.reads_inbox else None


def reading_transports(host: Host) -> set[str]:
    """The transports whose inboxes are read through their API in this deployment."""
    try:
        from falcana_oauth.service import oauth
    except ImportError:  # the OAuth plugin is not installed: no API is read
        return set()
    return {api.transport for provider in oauth(host).providers().values()
            for api in provider.apis if api.reads_inbox and api.transport in READERS}
