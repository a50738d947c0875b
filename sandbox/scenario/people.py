"""The people of a sandbox org: names, logins, departments, offices, devices, factors and Slack accounts.

Everything here is drawn from one `random.Random`, so a seed always gives the same org. Identifiers follow the
vendors' visible formats: Okta object ids are 20 characters with a 3-character type prefix (users "00u",
groups "00g"; factors by type, https://developer.okta.com/docs/reference/api/factors/), WebAuthn credential ids
are base64url without padding (https://www.w3.org/TR/webauthn-2/#credential-id), Slack user ids start with "U"
(https://api.slack.com/types/user), Google profile ids are 21 digits.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sandbox.org import Factor, PersonKind, UserStatus
from sandbox.records import Actor, ClientInfo, Target

T = TypeVar("T")
ALPHANUM = string.ascii_letters + string.digits
_SLACK_ALPHABET = string.ascii_uppercase + string.digits

_FIRST_NAMES = (
    "Aaliyah Aarav Abdul Ada Adriana Ahmed Aiko Alan Alejandro Alex Alice Amara Amir Ana Andrea Andrew Angela "
    "Anil Anna Antonio Arjun Astrid Ava Ayesha Beatriz Ben Bianca Bilal Boris Brian Camila Carlos Carmen "
    "Catherine Chen Chiara Chloe Chris Daniel Daniela David Deepa Diego Dmitri Elena Eli Elif Emeka Emily Emma "
    "Eric Fatima Felipe Fiona Francesca Gabriel Grace Hana Hannah Hassan Helen Hiroshi Ibrahim Ines Ingrid "
    "Isabel Ivan Jack Jamal James Jane Javier Jin Joao Jonas Jose Julia Kai Karen Kenji Kevin Kofi Lars Laura "
    "Leila Lena Liam Lina Lucas Lucia Luis Maya Mei Mateo Maria Mark Marta Mateus Megan Mia Michael Miguel "
    "Mohammed Nadia Naomi Nia Nikhil Nina Noah Nora Olga Omar Oscar Paolo Patrick Pedro Priya Rafael Rahul Rania "
    "Ravi Rebecca Ren Ricardo Rosa Ryan Sakura Samir Samuel Sara Sean Sofia Sophie Stefan Sunil Tanvi Thomas "
    "Tomas Uma Valentina Victor Wei William Xavier Yara Yasmin Yuki Yusuf Zainab Zoe"
)
FIRST_NAMES: tuple[str, ...] = tuple(_FIRST_NAMES.split())

_LAST_NAMES = (
    "Abe Adeyemi Ahmed Alvarez Andersen Anderson Araujo Bailey Baker Banerjee Barbosa Becker Bianchi Brown "
    "Campbell Carter Castillo Chang Chen Clarke Cohen Costa Cruz Das Davies Diaz Dubois Edwards Eriksson Evans "
    "Fernandes Fischer Fontaine Garcia Gomez Gonzalez Green Gupta Hall Hansen Harris Hernandez Hoffmann Huang "
    "Hughes Ibrahim Ito Jackson Jensen Johansson Johnson Jones Kang Kaur Khan Kim Kowalski Kumar Larsen Lee "
    "Lewis Li Lin Lopez Martin Martinez Mehta Meyer Miller Moore Morales Moreau Murphy Nakamura Nguyen Nielsen "
    "Novak Obi Okafor Oliveira Olsen Ortiz Park Patel Pereira Perez Petrov Phillips Popescu Rahman Ramirez Reddy "
    "Reyes Richter Rivera Roberts Robinson Rodriguez Romano Rossi Sanchez Santos Sato Schmidt Schneider Shah "
    "Silva Singh Smith Sokolov Suzuki Tanaka Taylor Thomas Thompson Torres Tran Turner Wagner Walker Wang "
    "Watanabe Weber White Williams Wilson Wong Wright Wu Yamamoto Yang Young Zhang Zhao Zimmermann"
)
LAST_NAMES: tuple[str, ...] = tuple(_LAST_NAMES.split())

DEPARTMENTS: dict[str, tuple[float, tuple[str, ...]]] = {
    "Engineering": (
        0.34,
        (
            "Software Engineer",
            "Senior Software Engineer",
            "Staff Engineer",
            "Engineering Manager",
            "Site Reliability Engineer",
        ),
    ),
    "Sales": (0.16, ("Account Executive", "Sales Engineer", "Sales Manager", "Sales Development Rep")),
    "Customer Support": (0.12, ("Customer Support Engineer", "Support Manager", "Technical Account Manager")),
    "Marketing": (0.08, ("Marketing Manager", "Content Strategist", "Product Marketing Manager")),
    "Product": (0.08, ("Product Manager", "Product Designer", "UX Researcher")),
    "Finance": (0.06, ("Accountant", "Financial Analyst", "Controller")),
    "People": (0.05, ("HR Business Partner", "Recruiter", "People Operations Specialist")),
    "Legal": (0.03, ("Counsel", "Paralegal", "Privacy Counsel")),
    "Operations": (0.08, ("Operations Analyst", "Program Manager", "Facilities Coordinator")),
}
IT_TITLES = ("IT Support Specialist", "Identity Engineer", "IT Systems Administrator", "IT Manager")
RESPONDER_TITLES = ("Security Engineer", "Incident Responder", "Detection Engineer")


@dataclass(frozen=True)
class Office:
    city: str
    state: str
    country: str
    lat: float
    lon: float
    utc_offset: int  # hours; January, so no daylight saving in the northern offices
    egress: tuple[str, ...]  # office NAT addresses (documentation ranges: never a real network)
    home_prefixes: tuple[str, ...]  # consumer ISP-looking /16 prefixes for home connections


OFFICES: tuple[tuple[float, Office], ...] = (
    (
        0.30,
        Office(
            "San Francisco",
            "California",
            "United States",
            37.7749,
            -122.4194,
            -8,
            ("203.0.113.10", "203.0.113.11"),
            ("73.162", "98.207", "24.6"),
        ),
    ),
    (0.18, Office("Austin", "Texas", "United States", 30.2672, -97.7431, -6, ("203.0.113.40",), ("70.112", "99.43"))),
    (
        0.15,
        Office(
            "New York",
            "New York",
            "United States",
            40.7128,
            -74.0060,
            -5,
            ("203.0.113.70", "203.0.113.71"),
            ("68.173", "72.229"),
        ),
    ),
    (
        0.17,
        Office("London", "England", "United Kingdom", 51.5074, -0.1278, 0, ("198.51.100.20",), ("86.147", "81.103")),
    ),
    (0.08, Office("Lisbon", "Lisbon", "Portugal", 38.7223, -9.1393, 0, ("198.51.100.50",), ("85.245", "94.63"))),
    (0.06, Office("Munich", "Bavaria", "Germany", 48.1351, 11.5820, 1, ("198.51.100.80",), ("84.153", "91.64"))),
    (
        0.06,
        Office("Singapore", "Singapore", "Singapore", 1.3521, 103.8198, 8, ("198.51.100.110",), ("116.86", "118.200")),
    ),
)

# Where people travel to: (city, state, country, lat, lon, ISP prefix).
TRAVEL: tuple[tuple[str, str, str, float, float, str], ...] = (
    ("Chicago", "Illinois", "United States", 41.8781, -87.6298, "107.21"),
    ("Seattle", "Washington", "United States", 47.6062, -122.3321, "76.121"),
    ("Paris", "Ile-de-France", "France", 48.8566, 2.3522, "90.84"),
    ("Tokyo", "Tokyo", "Japan", 35.6762, 139.6503, "126.45"),
    ("Toronto", "Ontario", "Canada", 43.6532, -79.3832, "142.112"),
    ("Amsterdam", "North Holland", "Netherlands", 52.3676, 4.9041, "77.170"),
)

# (weight, rawUserAgent, os, browser) as Okta parses them into client.userAgent.
USER_AGENTS: tuple[tuple[float, tuple[str, str, str]], ...] = (
    (
        0.38,
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/97.0.4692.71 Safari/537.36",
            "Mac OS X",
            "CHROME",
        ),
    ),
    (
        0.12,
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/15.2 Safari/605.1.15",
            "Mac OS X",
            "SAFARI",
        ),
    ),
    (
        0.26,
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/97.0.4692.71 Safari/537.36",
            "Windows 10",
            "CHROME",
        ),
    ),
    (
        0.12,
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/97.0.4692.71 Safari/537.36 Edg/97.0.1072.62",
            "Windows 10",
            "EDGE",
        ),
    ),
    (0.07, ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:96.0) Gecko/20100101 Firefox/96.0", "Linux", "FIREFOX")),
    (
        0.05,
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:96.0) Gecko/20100101 Firefox/96.0", "Mac OS X", "FIREFOX"),
    ),
)

AUTHENTICATOR_NAMES = (
    "YubiKey 5 NFC",
    "YubiKey 5C NFC",
    "YubiKey 5Ci",
    "YubiKey 5 Nano",
    "Security Key NFC by Yubico",
    "Google Titan Security Key",
)

# Factor type -> (id prefix, provider, System Log debugData.factor, authenticationContext.credentialType).
# debugData.factor uses the names Okta logs (FIDO_WEBAUTHN, OKTA_VERIFY_PUSH, ...), as the fake Okta does;
# https://support.okta.com/help/s/article/how-to-locate-factor-information-in-okta-system-log
# credentialType enum: https://developer.okta.com/docs/reference/api/system-log/#authenticationcontext-object
FACTOR_KINDS: dict[str, tuple[str, str, str, str]] = {
    "webauthn": ("fwf", "FIDO", "FIDO_WEBAUTHN", "ASSERTION"),
    "token:software:totp": ("ost", "OKTA", "OTP", "OTP"),
    "push": ("opf", "OKTA", "OKTA_VERIFY_PUSH", "OTP"),
    "sms": ("mbl", "OKTA", "SMS_FACTOR", "SMS"),
    "email": ("emf", "OKTA", "EMAIL_FACTOR", "EMAIL"),
}


def factor_debug(factor: Factor | None) -> dict[str, object]:
    """debugData for an event about one factor (the same keys the fake Okta writes)."""
    if factor is None:
        return {}
    return {"factor": FACTOR_KINDS[factor.factor_type][2], "factorId": factor.id, "factorType": factor.factor_type}


def rand_id(rng: random.Random, prefix: str, length: int = 17) -> str:
    return prefix + "".join(rng.choices(ALPHANUM, k=length))


def credential_id(rng: random.Random) -> str:
    """A 64-byte WebAuthn credential id, base64url without padding (as Okta shows it in the factor profile)."""
    raw = rng.getrandbits(512).to_bytes(64, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def slack_id(rng: random.Random) -> str:
    return "U0" + "".join(rng.choices(_SLACK_ALPHABET, k=9))


def google_profile_id(rng: random.Random) -> str:
    return str(100_000_000_000_000_000_000 + rng.randrange(900_000_000_000_000_000_000))


def weighted(rng: random.Random, table: Sequence[tuple[float, T]]) -> T:
    """Pick from (weight, value) pairs."""
    pick = rng.random() * sum(w for w, _ in table)
    for weight, value in table:
        pick -= weight
        if pick < 0:
            return value
    return table[-1][1]


@dataclass(slots=True)
class Person:
    """What the generator needs to know about one account beyond the Okta `User` it serves."""

    index: int
    user_id: str
    login: str
    first: str
    last: str
    kind: PersonKind
    department: str
    title: str
    status: UserStatus
    office: Office
    created: datetime
    google_id: str
    home_ip: str
    office_ip: str
    ua: tuple[str, str, str]  # rawUserAgent, os, browser
    # Traffic stops here (suspended, deactivated, locked-out or expired people); None: active to the end.
    active_until: datetime | None = None
    status_changed: datetime | None = None
    factors: list[Factor] = field(default_factory=list)
    has_slack: bool = True
    last_login: datetime | None = None
    password_changed: datetime | None = None
    # Cached record pieces, set by `finish()`: shared by all of this person's events.
    actor: Actor = field(init=False)
    target: Target = field(init=False)
    client_office: ClientInfo = field(init=False)
    client_home: ClientInfo = field(init=False)

    @property
    def display_name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def interactive(self) -> bool:
        """People who sign in every day (not break-glass or service accounts)."""
        return self.kind in (PersonKind.EMPLOYEE, PersonKind.IT, PersonKind.RESPONDER)

    def active_at(self, when: datetime) -> bool:
        return self.status is not UserStatus.STAGED and (self.active_until is None or when < self.active_until)

    def mfa_factor(self) -> Factor | None:
        """The factor this person uses day to day: a hardware key if they have one, else push, else any."""
        best: Factor | None = None
        rank = {"webauthn": 0, "push": 1, "token:software:totp": 2, "sms": 3, "email": 4}
        for factor in self.factors:
            if factor.status == "ACTIVE" and (best is None or rank[factor.factor_type] < rank[best.factor_type]):
                best = factor
        return best

    def client(
        self,
        ip: str,
        office: Office | None = None,
        city: tuple[str, str, str, float, float] | None = None,
    ) -> ClientInfo:
        raw, os_name, browser = self.ua
        if city is not None:
            c, s, country, lat, lon = city
        else:
            o = office or self.office
            c, s, country, lat, lon = o.city, o.state, o.country, o.lat, o.lon
        return ClientInfo(
            ip=ip, user_agent=raw, os=os_name, browser=browser, city=c, state=s, country=country, lat=lat, lon=lon
        )

    def finish(self) -> None:
        """Build the cached actor/target/client objects once the identity is final."""
        self.actor = Actor(self.user_id, self.login, self.display_name)
        self.target = Target(self.user_id, self.login, self.display_name)
        self.client_office = self.client(self.office_ip)
        self.client_home = self.client(self.home_ip)


def make_factor(rng: random.Random, person: Person, factor_type: str, created: datetime) -> Factor:
    prefix, provider, _, _ = FACTOR_KINDS[factor_type]
    profile: dict[str, str]
    if factor_type == "webauthn":
        profile = {"credentialId": credential_id(rng), "authenticatorName": rng.choice(AUTHENTICATOR_NAMES)}
    elif factor_type == "sms":
        profile = {"phoneNumber": f"+1 555-01{rng.randrange(100):02d}-{rng.randrange(10000):04d}"}
    elif factor_type == "email":
        profile = {"email": person.login}
    elif factor_type == "push":
        device = rng.choice(
            (
                ("IOS", "iPhone 13", "15.2"),
                ("IOS", "iPhone 12", "15.1"),
                ("ANDROID", "Pixel 6", "12"),
                ("ANDROID", "Galaxy S21", "12"),
            )
        )
        profile = {
            "credentialId": person.login,
            "deviceType": "SmartPhone",
            "platform": device[0],
            "name": device[1],
            "version": device[2],
        }
    else:
        profile = {"credentialId": person.login}
    return Factor(
        id=rand_id(rng, prefix),
        user_id=person.user_id,
        factor_type=factor_type,
        provider=provider,
        status="ACTIVE",
        created=created,
        last_updated=created,
        profile=profile,
    )


def ascii_login_part(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum() or ch == "-")
