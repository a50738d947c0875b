"""Fill an `Org` with people and a history: ordinary traffic, ordinary credential changes, and one compromise.

`generate(spec, org)` is deterministic: every choice, id and uuid comes from `random.Random` streams seeded from
`spec.seed` (one stream per concern, so the ground truth does not depend on whether traffic is written).
History is produced day by day and streamed into `org.system_log` / `org.reports` in time order; only about a
day of events is ever held in memory.

What the records look like:
- Okta LogEvents through `sandbox.records.okta_log_event`; event types and their display messages from the
  catalogue (https://developer.okta.com/docs/reference/api/event-types/).
- The Okta support actor as public detections fingerprint it: alternateId system@okta.com, transaction id
  "unknown", no user agent, no geography (Panther's "Okta Support Reset Credential" rule; the Cloudflare
  write-up of January 2022).
- Google Reports activities (https://developers.google.com/admin-sdk/reports/v1/appendix/activity/login,
  .../user-accounts, .../admin-user-settings, .../gmail): login_success per sign-in day, password_edit per
  password change, admin events for admin actions, and a Gmail delivery of Okta's reset mail per reset.
"""

from __future__ import annotations

import base64
import bisect
import math
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from operator import attrgetter, itemgetter
from pathlib import Path

from sandbox.org import Factor, Group, Org, PersonKind, SlackUser, User, UserStatus, iso
from sandbox.records import (
    JSON,
    OKTA_SUPPORT_ALTERNATE_ID,
    Actor,
    ClientInfo,
    EventSpec,
    Target,
    gmail_delivery,
    google_activity,
    okta_log_event,
)
from sandbox.scenario.people import (
    DEPARTMENTS,
    FACTOR_KINDS,
    FIRST_NAMES,
    IT_TITLES,
    LAST_NAMES,
    OFFICES,
    RESPONDER_TITLES,
    TRAVEL,
    USER_AGENTS,
    Person,
    ascii_login_part,
    credential_id,
    factor_debug,
    google_profile_id,
    make_factor,
    rand_id,
    slack_id,
    weighted,
)
from sandbox.scenario.registry import ApprovedKey, write_registry
from sandbox.scenario.spec import ScenarioSpec
from sandbox.scenario.truth import ActorKind, GroundTruth, Ledger, ProtectedTruth, Reason

GROUP_EVERYONE = "Everyone"
GROUP_VERIFIERS = "IT Identity Verifiers"
GROUP_RESPONDERS = "Security Incident Responders"
GROUP_BREAK_GLASS = "Break Glass Admins"
GROUP_SERVICE = "Service Accounts"
IT_CHANNEL_ID = "C0ITSECOPS"
IT_CHANNEL_NAME = "it-security"
HOLDFAST_LOCAL_PART = "svc-holdfast"
PROVISIONING_LOCAL_PART = "svc-okta-provisioning"
OKTA_MAIL_SENDER = "noreply@okta.com"
SUBJECT_SELF_RESET = "Okta password reset requested"
SUBJECT_ADMIN_RESET = "Your password has been reset"
APPROVED_KEYS_FILE = "approved-keys.json"

_DAY = timedelta(days=1)
# No event of local day d is earlier than UTC midnight of d minus this (sign-ins start 06:30 local, UTC+8 max).
_WATERMARK = timedelta(hours=3)

# Okta event catalogue display messages (https://developer.okta.com/docs/reference/api/event-types/).
DISPLAY: dict[str, str] = {
    "policy.evaluate_sign_on": "Evaluation of sign-on policy",
    "user.session.start": "User login to Okta",
    "user.session.end": "User logout from Okta",
    "user.authentication.sso": "User single sign on to app",
    "user.authentication.auth_via_mfa": "Authentication of user via MFA",
    "user.account.update_password": "User update password for Okta",
    "user.account.reset_password": "Fired when the user's Okta password is reset",
    "user.mfa.factor.activate": "User set up MFA factor",
    "user.mfa.factor.deactivate": "Reset factor for user",
    "user.mfa.factor.update": "Update factor for user",
    "user.mfa.factor.reset_all": "Reset all factors for user",
    "system.mfa.factor.deactivate": "Deactivate factor for user",
    "user.mfa.attempt_bypass": "Attempt bypass of factor",
    "user.session.impersonation.initiate": "Initiate impersonation session",
    "user.session.impersonation.grant": "Enable impersonation grant",
    "user.session.impersonation.extend": "Extend impersonation session",
    "user.lifecycle.suspend": "Suspend Okta user",
    "user.lifecycle.deactivate": "Deactivate Okta user",
    "group.user_membership.add": "Add user to group membership",
}
_SEVERITY = {"user.mfa.attempt_bypass": "WARN", "user.lifecycle.suspend": "WARN"}

APPS: tuple[tuple[float, str], ...] = (
    (0.30, "Google Workspace"),
    (0.22, "Slack"),
    (0.12, "Atlassian Cloud"),
    (0.08, "GitHub Enterprise Cloud"),
    (0.08, "Salesforce"),
    (0.08, "Zoom"),
    (0.04, "Workday"),
    (0.04, "Zendesk"),
    (0.04, "Box"),
)

# Where the attackers came from (TEST-NET-1 addresses: never a real network).
ATTACKER_EGRESS: tuple[tuple[str, str, str, str, float, float], ...] = (
    ("192.0.2.15", "Sao Paulo", "Sao Paulo", "Brazil", -23.5505, -46.6333),
    ("192.0.2.77", "Bucharest", "Bucharest", "Romania", 44.4268, 26.1025),
    ("192.0.2.140", "Frankfurt am Main", "Hesse", "Germany", 50.1109, 8.6821),
)
ATTACKER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/96.0.4664.110 Safari/537.36",
    "Windows 10",
    "CHROME",
)
_NO_CLIENT = ClientInfo()  # Okta-internal actions: no IP, no user agent, no geography
# RFC 4122 version-4 bits, as uuid.UUID(int=..., version=4) sets them.
_UUID_CLEAR = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_UUID_V4 = (0x8000 << 48) | (4 << 76)


def _reset_reason(factor: Factor) -> str:
    return f"User reset {FACTOR_KINDS[factor.factor_type][2]} factor"


def _setter(obj: object, name: str, value: object) -> Callable[[], None]:
    def apply() -> None:
        setattr(obj, name, value)

    return apply


def _factor_updater(factor: Factor, when: datetime, phone: str) -> Callable[[], None]:
    def apply() -> None:
        factor.last_updated = when
        if factor.factor_type == "sms":
            factor.profile["phoneNumber"] = phone  # the attacker's number

    return apply


def _factor_swapper(person: Person, remove: Factor | None, add: Factor | None) -> Callable[[], None]:
    def apply() -> None:
        if remove is not None and remove in person.factors:
            person.factors.remove(remove)
        if add is not None:
            person.factors.append(add)

    return apply


def _credential_replacer(factor: Factor, credential: str) -> Callable[[], None]:
    def apply() -> None:
        factor.profile["credentialId"] = credential

    return apply


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal above 50)."""
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _Generator:
    def __init__(self, spec: ScenarioSpec, org: Org) -> None:
        self.spec = spec
        self.org = org
        self.logs = spec.log_events
        seed = spec.seed
        # Separate streams: the people, the credential changes and the compromise (all of which decide the
        # ground truth) never depend on traffic, so log_events=False gives the same truth.
        self.r_people = random.Random(f"{seed}:people")
        self.r_changes = random.Random(f"{seed}:changes")
        self.r_attack = random.Random(f"{seed}:compromise")
        self.r_traffic = random.Random(f"{seed}:traffic")
        self.r_ids = random.Random(f"{seed}:ids")
        self.start = spec.start
        self.end = spec.end
        self.cutoff = spec.cutoff
        self.ledger = Ledger(self.cutoff)
        self.people: list[Person] = []
        self.by_login: dict[str, Person] = {}
        self.users: dict[str, User] = {}
        self.approved: list[ApprovedKey] = []
        self.protected: list[ProtectedTruth] = []
        self.used_ids: set[str] = set()
        self.touched: set[str] = set()  # user ids the scenario changes deliberately (kept out of noise)
        self.attacked: set[str] = set()  # user ids the attacker signed in as
        self.app_targets: dict[str, Target] = {}
        self.app_users: dict[tuple[str, str], Target] = {}
        self.policy_targets: tuple[Target, ...] = ()
        self.groups: dict[str, Group] = {}
        # Planned records (compromise, lifecycle, boundary cases) and deferred state changes, by time.
        self.planned_okta: list[EventSpec] = []
        self.planned_google: list[tuple[datetime, JSON]] = []
        self.planned_actions: list[tuple[datetime, int, Callable[[], None]]] = []
        # The day being generated.
        self.okta_batch: list[EventSpec] = []
        self.google_batch: list[tuple[datetime, JSON]] = []
        self.okta_count = 0
        self.google_count = 0
        self.support_actor = Actor(
            self._uid(self.r_people), OKTA_SUPPORT_ALTERNATE_ID, OKTA_SUPPORT_ALTERNATE_ID, type="User"
        )
        self.it_staff: list[Person] = []
        self.responders: list[Person] = []
        self.provisioning: Person | None = None

    # ----------------------------------------------------------------------------------------- identifiers
    def _uid(self, rng: random.Random, prefix: str = "00u") -> str:
        while True:
            ident = rand_id(rng, prefix)
            if ident not in self.used_ids:
                self.used_ids.add(ident)
                return ident

    def _uuid(self) -> str:
        """str(uuid.UUID(int=bits, version=4)) without building the object (same string, a third of the cost)."""
        h = "%032x" % ((self.r_ids.getrandbits(128) & _UUID_CLEAR) | _UUID_V4)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _txn(self) -> str:
        return format(self.r_ids.getrandbits(96), "024x")

    def _session(self) -> str:
        """An Okta externalSessionId: "102" and 22 letters or digits."""
        raw = base64.b64encode(self.r_ids.getrandbits(136).to_bytes(17, "big"), b"Zq")
        return "102" + raw[:22].decode()

    # ----------------------------------------------------------------------------------------- records
    def _event(
        self,
        event_type: str,
        when: datetime,
        actor: Actor,
        targets: tuple[Target, ...] = (),
        client: ClientInfo = _NO_CLIENT,
        *,
        outcome: str = "SUCCESS",
        reason: str | None = None,
        session: str | None = None,
        credential_type: str | None = None,
        debug: JSON | None = None,
        transaction_id: str | None = None,
    ) -> EventSpec:
        return EventSpec(
            event_type=event_type,
            published=when,
            actor=actor,
            targets=targets,
            client=client,
            outcome=outcome,
            reason=reason,
            display_message=DISPLAY[event_type],
            severity=_SEVERITY.get(event_type, "INFO"),
            transaction_id=transaction_id or self._txn(),
            session_id=session,
            credential_type=credential_type,
            debug_data=debug or {},
            uuid=self._uuid(),
        )

    def _support(
        self,
        event_type: str,
        when: datetime,
        person: Person,
        *,
        outcome: str = "SUCCESS",
        reason: str | None = None,
        session: str | None = None,
        debug: JSON | None = None,
    ) -> EventSpec:
        """An action by the Okta support actor: transaction "unknown", no client at all."""
        return self._event(
            event_type,
            when,
            self.support_actor,
            (person.target,),
            _NO_CLIENT,
            outcome=outcome,
            reason=reason,
            session=session,
            debug=debug,
            transaction_id="unknown",
        )

    def _activity(
        self,
        application: str,
        when: datetime,
        person: Person,
        events: list[tuple[str, str, dict[str, object]]],
        ip: str | None,
    ) -> JSON:
        return google_activity(
            application=application,
            time=when,
            actor_email=person.login,
            actor_profile_id=person.google_id,
            customer_id=self.org.google_customer_id,
            events=events,
            ip_address=ip,
            unique_qualifier=str(self.r_ids.getrandbits(63) - (1 << 62)),
            owner_domain=self.spec.domain,
        )

    def _reset_mail(self, when: datetime, person: Person, subject: str) -> JSON:
        return gmail_delivery(
            time=when,
            recipient=person.login,
            recipient_profile_id=person.google_id,
            sender=OKTA_MAIL_SENDER,
            subject=subject,
            message_id=f"<{self.r_ids.getrandbits(64):016x}.{self.r_ids.getrandbits(32):08x}.JavaMail.okta@okta.com>",
            customer_id=self.org.google_customer_id,
            owner_domain=self.spec.domain,
            unique_qualifier=str(self.r_ids.getrandbits(63) - (1 << 62)),
        )

    def _password_edit(self, when: datetime, person: Person, ip: str | None) -> JSON:
        return self._activity("user_accounts", when, person, [("password_change", "password_edit", {})], ip)

    def _admin_activity(self, when: datetime, name: str, kind: str, params: dict[str, object]) -> JSON:
        assert self.provisioning is not None
        return self._activity("admin", when, self.provisioning, [(kind, name, params)], None)

    # ----------------------------------------------------------------------------------------- the org
    def build_people(self) -> None:
        spec, r = self.spec, self.r_people
        domain = spec.domain
        taken: set[str] = set()

        def login_for(first: str, last: str) -> str:
            base = f"{ascii_login_part(first)}.{ascii_login_part(last)}"
            candidate, n = base, 1
            while candidate in taken:
                n += 1
                candidate = f"{base}{n}"
            taken.add(candidate)
            return f"{candidate}@{domain}"

        def person(
            kind: PersonKind,
            first: str,
            last: str,
            *,
            login: str | None = None,
            department: str = "",
            title: str = "",
            status: UserStatus = UserStatus.ACTIVE,
        ) -> Person:
            office = weighted(r, OFFICES)
            ua = weighted(r, USER_AGENTS)
            if login is None:
                login = login_for(first, last)
            else:
                taken.add(login.split("@")[0])
            home = r.choice(office.home_prefixes)
            p = Person(
                index=len(self.people),
                user_id=self._uid(r),
                login=login,
                first=first,
                last=last,
                kind=kind,
                department=department,
                title=title,
                status=status,
                office=office,
                created=self.start - timedelta(days=30 + r.random() * 2000),
                google_id=google_profile_id(r),
                home_ip=f"{home}.{r.randrange(256)}.{r.randrange(1, 255)}",
                office_ip=r.choice(office.egress),
                ua=ua,
            )
            p.password_changed = p.created + (self.start - p.created) * r.random()
            p.finish()
            self.people.append(p)
            self.by_login[p.login] = p
            return p

        # Accounts every org of this kind has, then IT, responders and everyone else.
        for n in (1, 2):
            bg = person(
                PersonKind.BREAK_GLASS,
                "Break Glass",
                f"Admin {n}",
                login=f"breakglass{n}@{domain}",
                department="IT",
                title="Emergency access account",
            )
            self._enrol(bg, ("webauthn", "webauthn"), bg.created)
            self.protected.append(ProtectedTruth(user_id=bg.user_id, login=bg.login, why="break_glass"))
        holdfast = person(
            PersonKind.SERVICE,
            "holdfast",
            "Service",
            login=f"{HOLDFAST_LOCAL_PART}@{domain}",
            department="Security",
            title="Service account",
        )
        self.protected.append(ProtectedTruth(user_id=holdfast.user_id, login=holdfast.login, why="holdfast"))
        self.provisioning = person(
            PersonKind.SERVICE,
            "Okta",
            "Provisioning",
            login=f"{PROVISIONING_LOCAL_PART}@{domain}",
            department="IT",
            title="Service account",
        )
        for local, first in (("svc-backup", "Backup"), ("svc-ci", "CI")):
            person(
                PersonKind.SERVICE,
                first,
                "Service",
                login=f"{local}@{domain}",
                department="IT",
                title="Service account",
            )

        def name() -> tuple[str, str]:
            return r.choice(FIRST_NAMES), r.choice(LAST_NAMES)

        n_it = max(3, round(spec.people * spec.it_staff_share))
        for _ in range(n_it):
            first, last = name()
            p = person(PersonKind.IT, first, last, department="IT", title=r.choice(IT_TITLES))
            self._enrol(p, ("webauthn", "push"), p.created)
            self.it_staff.append(p)
        # One verifier is suspended but still in the group: verifications must come from ACTIVE members.
        gone = self.it_staff[-1]
        gone.status = UserStatus.SUSPENDED
        gone.status_changed = self.start + (self.end - self.start) * (0.2 + 0.5 * r.random())
        gone.active_until = gone.status_changed
        for _ in range(spec.responders):
            first, last = name()
            p = person(PersonKind.RESPONDER, first, last, department="Security", title=r.choice(RESPONDER_TITLES))
            self._enrol(p, ("webauthn", "push"), p.created)
            self.responders.append(p)
            self.protected.append(ProtectedTruth(user_id=p.user_id, login=p.login, why="responder"))

        dept_table = [(w, d) for d, (w, _) in DEPARTMENTS.items()]
        statuses: tuple[tuple[float, UserStatus], ...] = (
            (0.958, UserStatus.ACTIVE),
            (0.010, UserStatus.SUSPENDED),
            (0.015, UserStatus.DEPROVISIONED),
            (0.003, UserStatus.LOCKED_OUT),
            (0.008, UserStatus.PASSWORD_EXPIRED),
            (0.006, UserStatus.STAGED),
        )
        history = self.end - self.start
        while len(self.people) < spec.people:
            first, last = name()
            dept = weighted(r, dept_table)
            status = weighted(r, statuses)
            p = person(
                PersonKind.EMPLOYEE, first, last, department=dept, title=r.choice(DEPARTMENTS[dept][1]), status=status
            )
            if status in (UserStatus.SUSPENDED, UserStatus.DEPROVISIONED):
                inside = r.random() < 0.5
                p.status_changed = (
                    (self.start + history * r.random())
                    if inside
                    else (self.start - timedelta(days=1 + 200 * r.random()))
                )
                p.active_until = p.status_changed
            elif status in (UserStatus.LOCKED_OUT, UserStatus.PASSWORD_EXPIRED):
                p.status_changed = self.end - timedelta(days=0.2 + 5 * r.random())
                p.active_until = p.status_changed
            elif status is UserStatus.STAGED:
                p.created = self.end - timedelta(days=1 + 10 * r.random())
                p.status_changed = p.created
                p.password_changed = None
            types: list[str] = []
            if r.random() < 0.8:
                types.append("push")
            if r.random() < 0.35:
                types.append("token:software:totp")
            if r.random() < 0.3:
                types.append("sms")
            if r.random() < 0.25 or not types:
                types.append("email")
            if r.random() < spec.webauthn_share:
                types.insert(0, "webauthn")
            if status is not UserStatus.STAGED:
                self._enrol(p, tuple(types), p.created + timedelta(days=r.random() * 20))

    def _enrol(
        self,
        person: Person,
        types: tuple[str, ...],
        when: datetime,
        *,
        approved: bool = True,
        rng: random.Random | None = None,
    ) -> list[Factor]:
        rng = rng or self.r_people
        made = []
        for factor_type in types:
            factor = make_factor(rng, person, factor_type, min(when, self.end - timedelta(minutes=1)))
            person.factors.append(factor)
            made.append(factor)
            if factor_type == "webauthn" and approved:
                self.approved.append(
                    ApprovedKey(
                        login=person.login, credential_id=factor.profile["credentialId"], enrolled=iso(factor.created)
                    )
                )
        return made

    def populate_org(self) -> None:
        """Users, factors, groups and Slack, as they stand at the end of the history."""
        r, org = self.r_people, self.org
        with org.lock:
            for p in self.people:
                user = User(
                    id=p.user_id,
                    login=p.login,
                    email=p.login,
                    first_name=p.first,
                    last_name=p.last,
                    status=p.status,
                    created=p.created,
                    kind=p.kind,
                    department=p.department,
                    title=p.title,
                    activated=None if p.status is UserStatus.STAGED else p.created,
                    status_changed=p.status_changed or p.created,
                    last_updated=p.created,
                    password_changed=p.password_changed,
                )
                org.add_user(user)
                org.factors[p.user_id] = p.factors  # shared list: later factor changes show in the org
                self.users[p.user_id] = user

            def group(name: str, description: str, members: list[Person]) -> Group:
                g = Group(
                    id=self._uid(r, "00g"),
                    name=name,
                    description=description,
                    members={m.user_id for m in members},
                    created=self.start - timedelta(days=900),
                )
                org.add_group(g)
                self.groups[name] = g
                return g

            group(GROUP_EVERYONE, "All users in your organization", self.people)
            group(GROUP_VERIFIERS, "IT staff who verify identity before an account is released", self.it_staff)
            group(GROUP_RESPONDERS, "Security incident response team", self.responders)
            group(
                GROUP_BREAK_GLASS,
                "Emergency access accounts",
                [p for p in self.people if p.kind is PersonKind.BREAK_GLASS],
            )
            group(GROUP_SERVICE, "Non-human accounts", [p for p in self.people if p.kind is PersonKind.SERVICE])
            for dept in (*DEPARTMENTS, "IT", "Security"):
                group(f"Dept - {dept}", f"{dept} department", [p for p in self.people if p.department == dept])
            for _, app in APPS:
                self.app_targets[app] = Target(self._uid(r, "0oa"), app, app, type="AppInstance")
            policy_id = self._uid(r, "00p")
            self.policy_targets = (
                Target(policy_id, "unknown", "Default Policy", type="PolicyEntity"),
                Target(self._uid(r, "0pr"), policy_id, "MFA everywhere", type="PolicyRule"),
            )
            org.slack_channels[IT_CHANNEL_ID] = IT_CHANNEL_NAME
            org.slack_channels["C0GENERAL01"] = "general"

    def populate_slack(self) -> None:
        r, org = self.r_people, self.org
        with org.lock:
            for p in self.people:
                if not p.interactive or p.status is UserStatus.STAGED:
                    p.has_slack = False
                    continue
                if p.has_slack and r.random() < self.spec.without_slack_share and p.user_id not in self.touched:
                    p.has_slack = False
                if not p.has_slack:
                    continue
                org.add_slack_user(
                    SlackUser(
                        id=slack_id(r),
                        email=p.login,
                        name=p.login.split("@")[0],
                        real_name=p.display_name,
                        deleted=p.status is UserStatus.DEPROVISIONED,
                    )
                )

    # ----------------------------------------------------------------------------------------- compromise
    def _plan(self, when: datetime, action: Callable[[], None]) -> None:
        self.planned_actions.append((when, len(self.planned_actions), action))

    def _okta(self, spec: EventSpec) -> None:
        if self.logs:
            self.planned_okta.append(spec)

    def _google(self, when: datetime, activity: Callable[[], JSON]) -> None:
        if self.logs:
            self.planned_google.append((when, activity()))

    def _window_time(self, lo: datetime, hi: datetime) -> datetime:
        span = (hi - lo).total_seconds()
        return lo + timedelta(milliseconds=int(self.r_attack.random() * span * 1000))

    def _attacker_client(self) -> ClientInfo:
        ip, city, state, country, lat, lon = self.r_attack.choice(ATTACKER_EGRESS)
        return ClientInfo(
            ip=ip,
            user_agent=ATTACKER_UA[0],
            os=ATTACKER_UA[1],
            browser=ATTACKER_UA[2],
            city=city,
            state=state,
            country=country,
            lat=lat,
            lon=lon,
        )

    def _pick(
        self,
        pool: list[Person],
        n: int,
        what: str,
        need: Callable[[Person], bool] | None = None,
    ) -> list[Person]:
        eligible = [p for p in pool if p.user_id not in self.touched and (need is None or need(p))]
        if len(eligible) < n:
            raise ValueError(f"scenario needs {n} accounts for {what}, only {len(eligible)} qualify")
        picked = self.r_attack.sample(eligible, n)
        self.touched.update(p.user_id for p in picked)
        return picked

    def _support_reset(self, p: Person, when: datetime, *, mailed: bool, attacker_signin: bool = True) -> None:
        self._okta(self._support("user.account.reset_password", when, p))
        self.ledger.record(p.user_id, p.login, when, Reason.PASSWORD_RESET, ActorKind.OKTA_SUPPORT, reset_mailed=mailed)
        if mailed:
            self._google(
                when + timedelta(seconds=4),
                lambda: self._reset_mail(when + timedelta(seconds=4), p, SUBJECT_ADMIN_RESET),
            )
        after = when + timedelta(minutes=8 + 20 * self.r_attack.random())
        ip: str | None = None
        if attacker_signin:
            self.attacked.add(p.user_id)
            client = self._attacker_client()
            ip = client.ip
            session = self._session() if self.logs else None
            self._okta(
                self._event(
                    "user.session.start", after, p.actor, (), client, session=session, credential_type="PASSWORD"
                )
            )
        if mailed:  # whoever used the link set a password, which reached Google
            edit_at = after + timedelta(seconds=30)
            self._google(edit_at, lambda: self._password_edit(edit_at, p, ip))
        self._plan(when, _setter(p, "password_changed", when))

    def plan_compromise(self) -> list[Person]:
        """Choose the accounts, plan the support actor's events and the state they leave. Returns the seeds."""
        c = self.spec.compromise
        if c is None:
            return []
        r, ledger = self.r_attack, self.ledger
        w0 = self.end - timedelta(days=c.window_days)
        w1 = self.end - timedelta(hours=1)
        employees = [p for p in self.people if p.kind is PersonKind.EMPLOYEE and p.status is UserStatus.ACTIVE]

        def has_key(p: Person) -> bool:
            return any(f.factor_type == "webauthn" for f in p.factors)

        # Support-initiated password resets (the first ones are the accounts in the screenshot).
        resets = self._pick(employees, c.support_password_resets, "support password resets")
        okta_only = {p.user_id for p in resets[len(resets) - c.okta_only_resets :]} if c.okta_only_resets else set()
        reset_times: dict[str, datetime] = {}
        for p in resets:
            t = self._window_time(w0, w1 - timedelta(hours=2))
            reset_times[p.user_id] = t
            self._support_reset(p, t, mailed=p.user_id not in okta_only)

        # MFA changes: the first two on reset accounts (reset, then take the phone), the rest on new ones.
        reuse = resets[: min(2, c.support_mfa_updates)]
        updates = reuse + self._pick(
            employees, c.support_mfa_updates - len(reuse), "support MFA updates", lambda p: bool(p.factors)
        )
        for p in updates:
            base = reset_times.get(p.user_id)
            t = base + timedelta(minutes=3 + 10 * r.random()) if base else self._window_time(w0, w1)
            factor = next((f for f in p.factors if f.factor_type == "sms"), p.factors[0] if p.factors else None)
            self._okta(self._support("user.mfa.factor.update", t, p, debug=factor_debug(factor)))
            ledger.record(p.user_id, p.login, t, Reason.MFA_FACTOR_UPDATE, ActorKind.OKTA_SUPPORT)
            if factor is not None:
                self._plan(t, _factor_updater(factor, t, f"+44 7700 9{r.randrange(100000):05d}"))

        for p in self._pick(employees, c.support_mfa_reset_all, "support MFA reset-all", lambda p: bool(p.factors)):
            t = self._window_time(w0, w1)
            self._okta(self._support("user.mfa.factor.reset_all", t, p))
            ledger.record(p.user_id, p.login, t, Reason.MFA_FACTOR_RESET_ALL, ActorKind.OKTA_SUPPORT)
            self._plan(t, p.factors.clear)

        for p in self._pick(
            employees, c.support_factor_deactivations, "system factor deactivations", lambda p: len(p.factors) >= 2
        ):
            t = self._window_time(w0, w1)
            factor = next((f for f in p.factors if f.factor_type != "webauthn"), p.factors[0])
            self._okta(
                self._support(
                    "system.mfa.factor.deactivate", t, p, reason=_reset_reason(factor), debug=factor_debug(factor)
                )
            )
            ledger.record(p.user_id, p.login, t, Reason.MFA_FACTOR_DEACTIVATE, ActorKind.OKTA_SUPPORT)
            self._plan(t, _factor_swapper(p, factor, None))

        bypass = [(p, "FAILURE") for p in self._pick(employees, c.bypass_attempts_failed, "failed MFA bypass")]
        bypass += [(p, "SUCCESS") for p in self._pick(employees, c.bypass_attempts_succeeded, "MFA bypass")]
        for p, outcome in bypass:
            t = self._window_time(w0, w1)
            self._okta(
                self._support(
                    "user.mfa.attempt_bypass",
                    t,
                    p,
                    outcome=outcome,
                    reason="INVALID_CREDENTIALS" if outcome == "FAILURE" else None,
                    debug=factor_debug(p.mfa_factor()),
                )
            )
            ledger.record(p.user_id, p.login, t, Reason.MFA_BYPASS_ATTEMPT, ActorKind.OKTA_SUPPORT)

        # Impersonation of IT admins; inside that session the "admin" resets other people's passwords.
        it_active = [p for p in self.it_staff if p.status is UserStatus.ACTIVE]
        admins = self._pick(it_active, c.impersonation_targets, "impersonation targets")
        victims = self._pick(employees, c.impersonated_admin_resets, "resets inside an impersonation session")
        for i, admin in enumerate(admins):
            t = self._window_time(w0, w0 + timedelta(hours=12))
            session = self._session() if self.logs else None
            self._okta(self._support("user.session.impersonation.grant", t, admin))
            self._okta(
                self._support("user.session.impersonation.initiate", t + timedelta(seconds=95), admin, session=session)
            )
            self._okta(
                self._support("user.session.impersonation.extend", t + timedelta(minutes=55), admin, session=session)
            )
            ledger.record(admin.user_id, admin.login, t, Reason.IMPERSONATION, ActorKind.OKTA_SUPPORT)
            for v in victims[i :: len(admins)]:
                tv = t + timedelta(minutes=5 + 40 * r.random())
                self._okta(
                    self._event(
                        "user.account.reset_password",
                        tv,
                        admin.actor,
                        (v.target,),
                        _NO_CLIENT,
                        session=session,
                        transaction_id="unknown",
                    )
                )
                ledger.record(v.user_id, v.login, tv, Reason.PASSWORD_RESET, ActorKind.IMPERSONATION, reset_mailed=True)
                self._google_reset(v, tv, SUBJECT_ADMIN_RESET, ip=None)
                self._plan(tv, _setter(v, "password_changed", tv))

        # The logged key swap: support resets the password and removes the key; the attacker enrols theirs.
        for p in self._pick(employees, c.hardware_key_swaps_logged, "logged hardware key swaps", has_key):
            t = self._window_time(w0, w1 - timedelta(hours=2))
            self._support_reset(p, t, mailed=True, attacker_signin=False)
            old = next(f for f in p.factors if f.factor_type == "webauthn")
            t_off = t + timedelta(minutes=4)
            self._okta(
                self._support(
                    "user.mfa.factor.deactivate", t_off, p, reason=_reset_reason(old), debug=factor_debug(old)
                )
            )
            ledger.record(p.user_id, p.login, t_off, Reason.MFA_FACTOR_DEACTIVATE, ActorKind.OKTA_SUPPORT)
            t_on = t + timedelta(minutes=25 + 10 * r.random())
            new = make_factor(r, p, "webauthn", t_on)  # the attacker's key: never in the registry
            self.attacked.add(p.user_id)
            client = self._attacker_client()
            session = self._session() if self.logs else None
            self._okta(
                self._event(
                    "user.session.start",
                    t_on - timedelta(minutes=2),
                    p.actor,
                    (),
                    client,
                    session=session,
                    credential_type="PASSWORD",
                )
            )
            self._okta(
                self._event(
                    "user.mfa.factor.activate",
                    t_on,
                    p.actor,
                    (p.target,),
                    client,
                    session=session,
                    debug=factor_debug(new),
                )
            )
            ledger.record(p.user_id, p.login, t_on, Reason.FACTOR_ENROLLED, ActorKind.SELF)
            ledger.record(p.user_id, p.login, t_on, Reason.UNKNOWN_HARDWARE_KEY, None)
            self._plan(t_off, _factor_swapper(p, old, None))
            self._plan(t_on, _factor_swapper(p, None, new))

        # The silent swap: the credential changes and nothing is logged anywhere.
        for p in self._pick(employees, c.hardware_key_swaps_silent, "silent hardware key swaps", has_key):
            t = self._window_time(w0, w1)
            key = next(f for f in p.factors if f.factor_type == "webauthn")
            ledger.record(p.user_id, p.login, t, Reason.UNKNOWN_HARDWARE_KEY, None, in_log=False)
            self._plan(t, _credential_replacer(key, credential_id(r)))

        # A reset mail in Gmail with no Okta event behind it.
        for p in self._pick(employees, c.google_only_resets, "Google-only resets"):
            t = self._window_time(w0, w1)
            self._google_reset(p, t, SUBJECT_ADMIN_RESET, ip=None)
            ledger.record(p.user_id, p.login, t, Reason.GOOGLE_ONLY_RESET, None, in_log=False)
            self._plan(t, _setter(p, "password_changed", t))

        # Sanctioned support work well before the cutoff: looks alarming, must not be found.
        early_hi = self.cutoff - timedelta(days=2)
        early_lo = max(self.start + timedelta(days=1), early_hi - timedelta(days=30))
        for p in self._pick(employees, c.decoy_support_resets_before_cutoff, "decoy support resets"):
            self._support_reset(p, self._window_time(early_lo, early_hi), mailed=True, attacker_signin=False)

        seeds = resets[: c.seed_accounts]
        seeds += self._pick(employees, c.untouched_seed_accounts, "untouched seed accounts")
        for p in seeds:
            ledger.seed(p.user_id, p.login)

        # Some compromised people have no Slack account (IT must be told instead); never a seed.
        no_slack = [p for p in [*resets[c.seed_accounts :], *updates, *victims] if p not in seeds]
        for p in no_slack[: c.without_slack]:
            p.has_slack = False
        return seeds

    def _google_reset(self, p: Person, when: datetime, subject: str, *, ip: str | None) -> None:
        """Okta's reset mail lands in Gmail; minutes later the new password reaches Google (password_edit)."""
        mail_at = when + timedelta(seconds=3)
        edit_at = when + timedelta(minutes=4)
        self._google(mail_at, lambda: self._reset_mail(mail_at, p, subject))
        self._google(edit_at, lambda: self._password_edit(edit_at, p, ip))

    def plan_fixed_cases(self) -> None:
        """A responder's own change (found but protected) and the two cutoff boundary cases."""
        spec, r = self.spec, self.r_changes
        if spec.responder_password_change and self.responders:
            p = self.responders[0]
            t = self.cutoff + timedelta(days=3, hours=10 - p.office.utc_offset, seconds=r.randrange(20_000))
            self._noise_change(p, "password_update", t, planned=True)
        if spec.boundary_changes:
            employees = [
                p
                for p in self.people
                if p.kind is PersonKind.EMPLOYEE and p.status is UserStatus.ACTIVE and p.user_id not in self.touched
            ]
            at, before = r.sample(employees, 2)
            self.touched.update((at.user_id, before.user_id))
            self._noise_change(at, "password_update", self.cutoff, planned=True)
            self._noise_change(before, "factor_enrol", self.cutoff - timedelta(minutes=1), planned=True)

    def plan_lifecycle(self) -> None:
        """Admin suspensions and deactivations that happened inside the history."""
        if not self.logs:
            return
        r = self.r_traffic
        admins = [p for p in self.it_staff if p.status is UserStatus.ACTIVE]
        for p in self.people:
            when = p.status_changed
            if p.status not in (UserStatus.SUSPENDED, UserStatus.DEPROVISIONED) or when is None:
                continue
            if not self.start <= when < self.end:
                continue
            admin = r.choice(admins)
            suspended = p.status is UserStatus.SUSPENDED
            etype = "user.lifecycle.suspend" if suspended else "user.lifecycle.deactivate"
            self._okta(self._event(etype, when, admin.actor, (p.target,), admin.client_office))
            at = when + timedelta(seconds=20)
            self.planned_google.append(
                (
                    at,
                    self._admin_activity(
                        at, "SUSPEND_USER" if suspended else "DELETE_USER", "USER_SETTINGS", {"USER_EMAIL": p.login}
                    ),
                )
            )

    # ----------------------------------------------------------------------------------------- noise
    def _noise_change(self, p: Person, kind: str, t: datetime, *, planned: bool = False) -> None:
        """One ordinary credential change: events (into today's batch or the plan), state and ledger."""
        r = self.r_changes
        okta: list[EventSpec] = []
        google: list[tuple[datetime, JSON]] = []
        logs = self.logs
        client = p.client_office if r.random() < 0.6 else p.client_home
        if kind == "password_update":
            if logs:
                okta.append(
                    self._event(
                        "user.account.update_password", t, p.actor, (p.target,), client, credential_type="PASSWORD"
                    )
                )
                google.append((t + timedelta(seconds=6), self._password_edit(t + timedelta(seconds=6), p, client.ip)))
            self.ledger.record(p.user_id, p.login, t, Reason.PASSWORD_UPDATE, ActorKind.SELF)
            p.password_changed = max(p.password_changed or t, t)
        elif kind in ("self_reset", "admin_reset"):
            mailed = True
            actor, actor_kind, subject = p.actor, ActorKind.SELF, SUBJECT_SELF_RESET
            if kind == "admin_reset":
                admins = [a for a in self.it_staff if a is not p and a.active_at(t)]
                if not admins:
                    return
                admin = r.choice(admins)
                actor, actor_kind, subject = admin.actor, ActorKind.ADMIN, SUBJECT_ADMIN_RESET
                client = admin.client_office
                mailed = r.random() >= self.spec.noise.admin_reset_without_email
            if logs:
                okta.append(self._event("user.account.reset_password", t, actor, (p.target,), client))
                if mailed:
                    google.append((t + timedelta(seconds=3), self._reset_mail(t + timedelta(seconds=3), p, subject)))
                    later = t + timedelta(minutes=2 + 30 * self.r_ids.random())  # not a truth stream
                    google.append((later, self._password_edit(later, p, (p.client_home or client).ip)))
            self.ledger.record(p.user_id, p.login, t, Reason.PASSWORD_RESET, actor_kind, reset_mailed=mailed)
            p.password_changed = max(p.password_changed or t, t)
        else:  # factor_enrol
            have = {f.factor_type for f in p.factors}
            choices = [ft for ft in ("push", "token:software:totp", "sms") if ft not in have]
            factor_type = "webauthn" if r.random() < 0.35 or not choices else r.choice(choices)
            (factor,) = self._enrol(p, (factor_type,), t, rng=r)
            if logs:
                okta.append(
                    self._event(
                        "user.mfa.factor.activate",
                        t,
                        p.actor,
                        (p.target,),
                        client,
                        debug=factor_debug(factor),
                    )
                )
            self.ledger.record(p.user_id, p.login, t, Reason.FACTOR_ENROLLED, ActorKind.SELF)
        if planned:
            self.planned_okta.extend(okta)
            self.planned_google.extend(google)
        else:
            self.okta_batch.extend(okta)
            self.google_batch.extend(google)

    def _changes_for_day(self, day: datetime, candidates: list[Person]) -> None:
        noise, r = self.spec.noise, self.r_changes
        if not candidates:
            return
        for kind, rate in (
            ("password_update", noise.password_update),
            ("self_reset", noise.self_reset),
            ("admin_reset", noise.admin_reset),
            ("factor_enrol", noise.factor_enrol),
        ):
            for _ in range(poisson(r, len(candidates) * rate)):
                p = r.choice(candidates)
                t = day + timedelta(hours=9 - p.office.utc_offset + 8 * r.random())
                t = t.replace(microsecond=(t.microsecond // 1000) * 1000)
                if not (self.start <= t < self.end) or not p.active_at(t):
                    continue
                self._noise_change(p, kind, t)

    def _app_user(self, p: Person, app: str) -> Target:
        key = (p.user_id, app)
        found = self.app_users.get(key)
        if found is None:
            found = self.app_users[key] = Target(
                rand_id(self.r_traffic, "0ua"), p.login, p.display_name, type="AppUser"
            )
        return found

    def _traffic_for_day(self, day: datetime, people: list[Person]) -> None:
        noise, r = self.spec.noise, self.r_traffic
        weekday = day.weekday() < 5
        chance = noise.signin_weekday if weekday else noise.signin_weekend
        okta, google = self.okta_batch, self.google_batch
        event = self._event
        policy = self.policy_targets
        apps = [(w, a) for w, a in APPS if a != "Google Workspace"]
        google_app = self.app_targets["Google Workspace"]
        max_sso = max(1, round(2 * noise.sso_per_signin - 1))
        for p in people:
            if r.random() >= chance:
                continue
            t0 = day + timedelta(seconds=(6.5 - p.office.utc_offset) * 3600 + r.random() * 10800)
            if not (self.start <= t0 < self.end) or not p.active_at(t0):
                continue
            actor = p.actor
            if r.random() < noise.travel:
                city, state, country, lat, lon, prefix = r.choice(TRAVEL)
                client = p.client(
                    f"{prefix}.{r.randrange(256)}.{r.randrange(1, 255)}", city=(city, state, country, lat, lon)
                )
            elif weekday and r.random() < 0.55:
                client = p.client_office
            else:
                client = p.client_home
            session = self._session()
            okta.append(
                event(
                    "policy.evaluate_sign_on",
                    t0,
                    actor,
                    policy,
                    client,
                    outcome="ALLOW",
                    reason="Sign-on policy evaluation resulted in ALLOW",
                    session=session,
                )
            )
            t = t0 + timedelta(milliseconds=300 + r.randrange(700))
            okta.append(
                event(
                    "user.session.start",
                    t,
                    actor,
                    (),
                    client,
                    session=session,
                    credential_type="PASSWORD",
                    debug={"requestUri": "/api/v1/authn"},
                )
            )
            factor = p.mfa_factor()
            if factor is not None:
                _, _, log_name, credential = FACTOR_KINDS[factor.factor_type]
                mfa_debug = {"factor": log_name, "factorIntent": "AUTHENTICATION"}
                if r.random() < noise.failed_mfa:
                    t += timedelta(milliseconds=4000 + r.randrange(20000))
                    okta.append(
                        event(
                            "user.authentication.auth_via_mfa",
                            t,
                            actor,
                            (),
                            client,
                            outcome="FAILURE",
                            reason="INVALID_CREDENTIALS",
                            session=session,
                            credential_type=credential,
                            debug=mfa_debug,
                        )
                    )
                t += timedelta(milliseconds=3000 + r.randrange(12000))
                okta.append(
                    event(
                        "user.authentication.auth_via_mfa",
                        t,
                        actor,
                        (),
                        client,
                        session=session,
                        credential_type=credential,
                        debug=mfa_debug,
                    )
                )
            p.last_login = t
            n_sso = 1 + int(r.random() * max_sso)
            for i in range(n_sso):
                if i == 0:  # mail first: one Google sign-in per sign-in day
                    app_name, app_target = "Google Workspace", google_app
                    ts = t + timedelta(milliseconds=2000 + r.randrange(30000))
                    tg = ts + timedelta(seconds=1)  # Google records the SAML sign-in it receives
                    google.append(
                        (
                            tg,
                            self._activity(
                                "login",
                                tg,
                                p,
                                [
                                    (
                                        "login",
                                        "login_success",
                                        {
                                            "login_type": "saml",
                                            "is_suspicious": False,
                                        },
                                    )
                                ],
                                client.ip,
                            ),
                        )
                    )
                else:
                    app_name = weighted(r, apps)
                    app_target = self.app_targets[app_name]
                    ts = t + timedelta(milliseconds=r.randrange(32_400_000))
                if ts >= self.end:
                    continue
                okta.append(
                    event(
                        "user.authentication.sso",
                        ts,
                        actor,
                        (app_target, self._app_user(p, app_name)),
                        client,
                        session=session,
                        debug={"initiationType": "SP_INITIATED"},
                    )
                )
            if r.random() < noise.session_end:
                te = t0 + timedelta(milliseconds=28_800_000 + r.randrange(7_200_000))
                if te < self.end and p.active_at(te):
                    okta.append(
                        event(
                            "user.session.end",
                            te,
                            actor,
                            (),
                            client,
                            session=session,
                            debug={"requestUri": "/login/signout"},
                        )
                    )

    def _admin_actions_for_day(self, day: datetime, people: list[Person]) -> None:
        r = self.r_traffic
        admins = [p for p in self.it_staff if p.active_at(day)]
        if not admins or not people:
            return
        for _ in range(poisson(r, len(self.people) / 1000 * self.spec.noise.admin_actions_per_1000)):
            p, admin = r.choice(people), r.choice(admins)
            t = day + timedelta(hours=9.5 - admin.office.utc_offset + 7 * r.random())
            if not self.start <= t < self.end:
                continue
            group = self.groups.get(f"Dept - {p.department}")
            if group is None:
                continue
            target = Target(group.id, group.name, group.name, type="UserGroup")
            self.okta_batch.append(
                self._event(
                    "group.user_membership.add", t, admin.actor, (p.target, target), admin.client_office or _NO_CLIENT
                )
            )
            slug = group.name.lower().replace("dept - ", "dept-").replace(" ", "-")
            self.google_batch.append(
                (
                    t + timedelta(seconds=40),
                    self._admin_activity(
                        t + timedelta(seconds=40),
                        "ADD_GROUP_MEMBER",
                        "GROUP_SETTINGS",
                        {"USER_EMAIL": p.login, "GROUP_EMAIL": f"{slug}@{self.spec.domain}"},
                    ),
                )
            )

    # ----------------------------------------------------------------------------------------- the stream
    def run_history(self) -> None:
        self.planned_okta.sort(key=attrgetter("published"))
        self.planned_google.sort(key=itemgetter(0))
        self.planned_actions.sort(key=itemgetter(0, 1))
        interactive = [p for p in self.people if p.interactive and p.status is not UserStatus.STAGED]
        candidates = [p for p in interactive if p.kind is not PersonKind.RESPONDER and p.user_id not in self.touched]
        okta_pending: list[EventSpec] = []
        google_pending: list[tuple[datetime, JSON]] = []
        i_okta = i_google = i_action = 0
        day = self.start.replace(hour=0, minute=0, second=0, microsecond=0) - _DAY
        last_day = self.end.replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= last_day:
            nxt = day + _DAY
            while i_action < len(self.planned_actions) and self.planned_actions[i_action][0] < nxt:
                with self.org.lock:
                    self.planned_actions[i_action][2]()
                i_action += 1
            self._changes_for_day(day, candidates)
            if self.logs:
                active_today = [p for p in interactive if p.active_at(day)]
                self._traffic_for_day(day, active_today)
                self._admin_actions_for_day(day, active_today)
            while i_okta < len(self.planned_okta) and self.planned_okta[i_okta].published < nxt:
                self.okta_batch.append(self.planned_okta[i_okta])
                i_okta += 1
            while i_google < len(self.planned_google) and self.planned_google[i_google][0] < nxt:
                self.google_batch.append(self.planned_google[i_google])
                i_google += 1
            okta_pending.extend(self.okta_batch)
            google_pending.extend(self.google_batch)
            self.okta_batch, self.google_batch = [], []
            watermark = nxt - _WATERMARK if day < last_day else datetime.max.replace(tzinfo=UTC)
            okta_pending.sort(key=attrgetter("published"))
            google_pending.sort(key=itemgetter(0))
            cut_o = bisect.bisect_left(okta_pending, watermark, key=attrgetter("published"))
            cut_g = bisect.bisect_left(google_pending, watermark, key=itemgetter(0))
            if self.logs:
                self.okta_count += self.org.system_log.append_many(self._render(okta_pending[:cut_o]))
                self.google_count += self.org.reports.append_many(
                    a for t, a in google_pending[:cut_g] if self.start <= t < self.end
                )
            del okta_pending[:cut_o], google_pending[:cut_g]
            day = nxt
        with self.org.lock:
            for _, _, action in self.planned_actions[i_action:]:
                action()
        assert not okta_pending and not google_pending, "events left behind the last day"

    def _render(self, specs: list[EventSpec]) -> Iterator[JSON]:
        start, end = self.start, self.end
        for s in specs:
            if start <= s.published < end:
                yield okta_log_event(s)

    # ----------------------------------------------------------------------------------------- results
    def finish_org(self) -> None:
        """Copy the end-of-history state onto the Okta users and write the approved-key registry."""
        r = random.Random(f"{self.spec.seed}:state")
        day = timedelta(days=1)
        with self.org.lock:
            for p in self.people:
                user = self.users[p.user_id]
                if p.last_login is None and not self.logs and p.interactive and p.status is not UserStatus.STAGED:
                    # No traffic was generated: a plausible last sign-in before the account went quiet.
                    p.last_login = min(p.active_until or self.end, self.end) - day * (3 * r.random())
                user.password_changed = p.password_changed
                user.last_login = p.last_login
                changed = [f.last_updated for f in p.factors]
                stamps = [d for d in (p.password_changed, p.status_changed, *changed) if d is not None]
                user.last_updated = max(stamps) if stamps else p.created
                # Live sessions and OAuth tokens (what containment revokes): people who signed in lately.
                if p.status is UserStatus.ACTIVE and p.last_login is not None and self.end - p.last_login < 2 * day:
                    user.sessions = 1 + (r.random() < 0.3)
                    user.oauth_tokens = r.randrange(4)
                if p.user_id in self.attacked:
                    user.sessions += 1  # the attacker's session is still alive
        write_registry(self.approved, self.org.workdir / APPROVED_KEYS_FILE)

    def truth(self, seeds: list[Person]) -> GroundTruth:
        accounts = self.ledger.accounts()
        found = {a.user_id for a in accounts}
        verifiers = sorted(p.login for p in self.it_staff if p.status is UserStatus.ACTIVE)
        return GroundTruth(
            scenario=self.spec.name,
            seed=self.spec.seed,
            domain=self.spec.domain,
            start=iso(self.start),
            end=iso(self.end),
            cutoff=iso(self.cutoff),
            people=len(self.people),
            seed_accounts=sorted(p.login for p in seeds),
            accounts=accounts,
            protected=sorted(self.protected, key=lambda x: x.login),
            decoys=self.ledger.decoys(),
            verifiers=verifiers,
            slack_missing=sorted(p.login for p in self.people if p.user_id in found and not p.has_slack),
            okta_events=self.okta_count,
            google_activities=self.google_count,
        )


def generate(spec: ScenarioSpec, org: Org) -> GroundTruth:
    """Fill `org` (users, factors, groups, Slack, System Log, Reports, approved-keys.json) from `spec`."""
    if org.domain != spec.domain:
        raise ValueError(f"org domain {org.domain!r} differs from the scenario's {spec.domain!r}")
    if org.users or org.system_log.count() or org.reports.count():
        raise ValueError("generate() fills an empty org: build a fresh one with Org.empty()")
    gen = _Generator(spec, org)
    gen.build_people()
    seeds = gen.plan_compromise()
    gen.plan_fixed_cases()
    gen.plan_lifecycle()
    gen.populate_org()
    gen.populate_slack()
    gen.run_history()
    gen.finish_org()
    return gen.truth(seeds)


def approved_keys_path(org: Org) -> Path:
    return org.workdir / APPROVED_KEYS_FILE
