"""A deterministic synthetic shop: customers, orders, order lines, contact history, suppressions.

Everything is drawn from one ``numpy.random.default_rng(seed)`` in a fixed order and placed on
a calendar anchored at ``as_of``: no clock, no hash randomisation, no set iteration, so the
same arguments give byte-identical CSVs. Work is vectorised over arrays; only
per-customer string building and per-contact hashing run as Python loops.

The purchase model is heterogeneous on purpose so that RFM, BG/NBD and response reports have
something to find: each buyer has a Gamma-distributed purchase rate and an exponential
lifetime (some drop out right after their first order), with a November/December bump. The
two past campaigns carry a real, modest treatment effect: treated customers place an extra
order within 30 days with probability ``RESPONSE_LIFT`` more than the held-out control group.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crmreport.files import write_text

__all__ = ["CAMPAIGNS", "RESPONSE_LIFT", "Campaign", "DemoFiles", "generate"]

IntArray = NDArray[np.int64]
StrArray = NDArray[np.object_]

SHOP_ZONE = ZoneInfo("Europe/Berlin")
RESPONSE_LIFT = 0.05  # extra-order probability for treated customers (measured ~ +4 pp)
CONTROL_SHARE = 0.10
RESPONSE_DAYS = 30

# --- word lists (written for this module) ------------------------------------------------

_DE_FEMALE = (
    "Anna", "Maria", "Ursula", "Monika", "Petra", "Sabine", "Claudia", "Susanne", "Andrea",
    "Birgit", "Karin", "Renate", "Jutta", "Gabriele", "Heike", "Katrin", "Stefanie", "Julia",
    "Lena", "Laura", "Sophie", "Hannah", "Lea", "Marie", "Johanna", "Charlotte", "Greta",
    "Käthe", "Bärbel", "Dörte", "Gudrun", "Ingrid", "Helga", "Elke", "Anke", "Silke", "Tanja",
    "Kerstin", "Franziska", "Miriam", "Theresa", "Frieda", "Lotte", "Jülide",
)
_DE_MALE = (
    "Jürgen", "Klaus", "Hans", "Peter", "Wolfgang", "Michael", "Thomas", "Andreas", "Stefan",
    "Frank", "Uwe", "Dieter", "Günter", "Horst", "Bernd", "Rainer", "Ralf", "Matthias",
    "Markus", "Christian", "Sebastian", "Tobias", "Florian", "Jan", "Lukas", "Felix",
    "Maximilian", "Paul", "Leon", "Jonas", "Moritz", "Niklas", "Björn", "Sören", "Jörg", "Götz",
    "Karl", "Friedrich", "Heinz", "Manfred", "Volker", "Dirk", "Holger", "Timo", "Philipp",
)
_DE_LAST = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt",
    "Werner", "Schmitz", "Krause", "Meier", "Lehmann", "Schulze", "Maier", "Köhler", "Herrmann",
    "König", "Walter", "Huber", "Kaiser", "Fuchs", "Peters", "Scholz", "Möller", "Weiß", "Jung",
    "Hahn", "Schubert", "Vogel", "Keller", "Günther", "Berger", "Winkler", "Roth", "Beck",
    "Lorenz", "Baumann", "Groß", "Jäger", "Strauß", "Böhm",
)
_EN_FEMALE = (
    "Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Lily", "Freya", "Ella",
    "Chloe", "Charlotte", "Jessica", "Evie", "Poppy", "Ruby", "Sarah", "Emma", "Rachel",
    "Hannah", "Laura", "Rebecca", "Lucy", "Katherine", "Helen", "Claire", "Fiona", "Siobhan",
    "Aoife", "Niamh", "Orla", "Margaret", "Elizabeth", "Victoria", "Alice", "Harriet",
    "Eleanor", "Philippa", "Joanne", "Nicola", "Zoe", "Megan", "Bethan", "Imogen",
)
_EN_MALE = (
    "Oliver", "George", "Harry", "Jack", "Jacob", "Noah", "Charlie", "Thomas", "Oscar",
    "William", "James", "Henry", "Alfie", "Leo", "Joshua", "Freddie", "Archie", "Daniel",
    "Samuel", "Edward", "Joseph", "Benjamin", "David", "Richard", "Robert", "Andrew", "Mark",
    "Paul", "Stephen", "Christopher", "Matthew", "Gareth", "Rhys", "Callum", "Euan", "Ciarán",
    "Seán", "Liam", "Conor", "Patrick", "Declan", "Niall", "Owen", "Hugh",
)
_EN_LAST = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood",
    "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Lee", "King",
    "Baker", "Harrison", "Morgan", "Allen", "Scott", "Phillips", "Watson", "Parker", "Price",
    "Bennett", "Young", "Griffiths", "Mitchell", "Kelly", "Cook", "Carter", "Richardson",
    "Bailey", "Collins", "Bell", "Murphy", "O'Brien", "Byrne", "O'Connor",
)
_DE_STREETS = (
    "Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Dorfstraße", "Bergstraße",
    "Lindenstraße", "Kirchstraße", "Waldstraße", "Ringstraße", "Goethestraße", "Schillerstraße",
    "Mühlenweg", "Birkenweg", "Am Markt", "Rosenweg", "Friedrichstraße", "Königsallee",
    "Weißdornweg", "Lärchenweg", "Amselweg", "Uhlandstraße", "Talstraße", "Feldstraße",
    "Herrengasse", "Brunnengasse", "Grüner Weg", "Kastanienallee", "Sonnenstraße", "Fährstraße",
)
_EN_STREETS = (
    "High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane", "Manor Road",
    "Park Avenue", "Mill Lane", "Queen Street", "King's Road", "The Crescent", "Orchard Close",
    "Chapel Street", "Main Street", "New Road", "Elm Grove", "Castle Street", "Bridge Street",
    "Riverside Walk", "Abbey Road",
)
# (country, city, weight, postcode range) for DE/AT; numeric ranges keep leading zeros.
_NUMERIC_CITIES: tuple[tuple[str, str, float, int, int], ...] = (
    ("DE", "Berlin", 8, 10115, 14199), ("DE", "Hamburg", 5, 20095, 22769),
    ("DE", "München", 5, 80331, 81929), ("DE", "Köln", 4, 50667, 51149),
    ("DE", "Frankfurt am Main", 3, 60306, 60599), ("DE", "Stuttgart", 3, 70173, 70629),
    ("DE", "Düsseldorf", 3, 40210, 40629), ("DE", "Leipzig", 3, 4103, 4357),
    ("DE", "Dresden", 3, 1067, 1328), ("DE", "Chemnitz", 1.5, 9111, 9247),
    ("DE", "Halle (Saale)", 1.5, 6108, 6132), ("DE", "Jena", 1, 7743, 7751),
    ("DE", "Dortmund", 2.5, 44135, 44388), ("DE", "Essen", 2.5, 45127, 45359),
    ("DE", "Bremen", 2, 28195, 28779), ("DE", "Hannover", 2.5, 30159, 30669),
    ("DE", "Nürnberg", 2.5, 90402, 90491), ("DE", "Freiburg im Breisgau", 1.5, 79098, 79117),
    ("DE", "Münster", 1.5, 48143, 48167), ("DE", "Rostock", 1, 18055, 18147),
    ("DE", "Kiel", 1, 24103, 24159), ("DE", "Würzburg", 1, 97070, 97084),
    ("AT", "Wien", 6, 1010, 1230), ("AT", "Graz", 2, 8010, 8054),
    ("AT", "Linz", 1.5, 4020, 4040), ("AT", "Salzburg", 1.5, 5020, 5071),
    ("AT", "Innsbruck", 1, 6020, 6080),
)
# (country, city, weight, outward codes / routing keys) for GB/IE.
_CODED_CITIES: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    ("GB", "London", 10, ("SW1A", "EC1A", "N1", "E2", "SE1", "W1D", "NW3", "SW11")),
    ("GB", "Manchester", 3, ("M1", "M4", "M20")), ("GB", "Birmingham", 3, ("B1", "B15", "B30")),
    ("GB", "Leeds", 2, ("LS1", "LS6")), ("GB", "Glasgow", 2, ("G1", "G12")),
    ("GB", "Edinburgh", 2, ("EH1", "EH3")), ("GB", "Bristol", 2, ("BS1", "BS8")),
    ("GB", "Liverpool", 2, ("L1", "L17")), ("GB", "Cardiff", 1.5, ("CF10", "CF24")),
    ("GB", "Oxford", 1, ("OX1", "OX4")), ("GB", "Belfast", 1.5, ("BT1", "BT9")),
    ("IE", "Dublin", 4, ("D02", "D04", "D06", "D08")), ("IE", "Cork", 1.5, ("T12", "T23")),
    ("IE", "Galway", 1, ("H91",)),
)
_UK_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_EIRCODE_CHARS = "ACDEFHKNPRTVWXY0123456789"
_DOMAINS = {
    "DE": ("example.de", "example.com", "example.net"),
    "AT": ("example.at", "example.com", "example.de"),
    "GB": ("example.co.uk", "example.com", "example.org"),
    "IE": ("example.ie", "example.com", "example.co.uk"),
}
_DE_TRADES = ("Haustechnik", "Gartenbau", "Logistik", "Elektro", "Design", "Immobilien")
_DE_FORMS = ("GmbH", "GmbH & Co. KG", "AG", "e.K.", "KG")
_EN_TRADES = ("Building", "Landscaping", "Logistics", "Design", "Consulting", "Joinery")
_EN_FORMS = ("Ltd", "Limited", "LLP", "& Co. Ltd")

# category -> (sku prefix, relative price level, products)
_CATALOGUE: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "outdoor": ("OUT", 1.6, (
        "Trail jacket", "Rain poncho", "Hiking backpack", "Trekking poles", "Camping stove",
        "Sleeping bag", "Head torch", "Water bottle", "Fleece pullover", "Tent footprint")),
    "fashion": ("FAS", 1.0, (
        "Linen shirt", "Wool scarf", "Denim jeans", "Cotton T-shirt", "Knit cardigan",
        "Summer dress", "Leather belt", "Chino trousers", "Rain hat", "Silk blouse")),
    "shoes": ("SHO", 1.3, (
        "Running shoes", "Leather boots", "Canvas sneakers", "Hiking boots", "House slippers",
        "Sandals", "Chelsea boots", "Trail runners", "Loafers", "Rubber wellies")),
    "home": ("HOM", 1.1, (
        "Throw blanket", "Cushion cover", "Table lamp", "Picture frame", "Scented candle",
        "Wall clock", "Storage basket", "Bath towel set", "Door mat", "Bed linen")),
    "garden": ("GAR", 0.9, (
        "Garden hose", "Pruning shears", "Seed set", "Plant pot", "Watering can",
        "Garden gloves", "Bird feeder", "Compost bin", "Leaf rake", "Solar lantern")),
    "kitchen": ("KIT", 0.8, (
        "Chef's knife", "Frying pan", "Coffee grinder", "Cutting board", "Salad bowl",
        "Tea kettle", "Spice rack", "Baking tray", "Espresso cups", "Pasta pot")),
    "sports": ("SPO", 1.0, (
        "Yoga mat", "Dumbbell pair", "Skipping rope", "Cycling gloves", "Football",
        "Tennis balls", "Swim goggles", "Foam roller", "Sports bag", "Resistance bands")),
    "books": ("BOO", 0.35, (
        "Cookbook", "Travel guide", "Hiking atlas", "Garden handbook", "Crime novel",
        "Children's book", "Photo book", "Bird guide", "Puzzle book", "Wall calendar")),
}
_CATEGORIES = tuple(_CATALOGUE)
_CATEGORY_WEIGHTS = np.array([0.18, 0.2, 0.12, 0.14, 0.1, 0.1, 0.1, 0.06])
_FAVOURITE_SHARE = 0.65  # share of a customer's lines from their favourite category

_STATUSES = ("completed", "cancelled", "refunded")
_STATUS_P = np.array([0.94, 0.03, 0.03])
_CHANNELS = ("online", "store")
_SEASON = np.array([0.9, 0.85, 0.95, 1.0, 1.0, 0.95, 0.9, 0.9, 1.0, 1.05, 1.5, 1.8])
# Local hours 6..23 (online) and 9..19 (store): orders never fall into the DST gap at 2-3 am,
# so one UTC offset per local day is exact.
_ONLINE_HOURS = np.array([1, 2, 3, 4, 5, 5, 6, 6, 5, 5, 6, 7, 8, 9, 10, 10, 8, 5], dtype=float)
_STORE_HOURS = np.array([4, 6, 7, 8, 8, 7, 8, 9, 9, 8, 6], dtype=float)


@dataclass(frozen=True)
class Campaign:
    """A past campaign in the demo contact history."""

    name: str
    contacted_at: date
    default_offer: str
    offers: tuple[tuple[str, str], ...]  # (segment, offer) overrides
    ab_offer: str | None = None  # this offer's customers get variant A or B (no true effect)

    def offer_for(self, segment: str) -> str:
        return dict(self.offers).get(segment, self.default_offer)

    def variant_for(self, offer: str, customer_id: str) -> str:
        """A or B by md5 of campaign and id for the A/B offer, independent of the control
        draw (as the planner draws variants); A for every other offer."""
        if offer != self.ab_offer:
            return "A"
        digest = hashlib.md5(f"{self.name}:variant:{customer_id}".encode()).hexdigest()
        return "A" if int(digest[:8], 16) % 2 == 0 else "B"


CAMPAIGNS = (
    Campaign("autumn-2025", date(2025, 10, 6), "autumn-voucher",
             (("champions", "autumn-vip-preview"), ("at_risk", "autumn-comeback")),
             ab_offer="autumn-voucher"),
    Campaign("winter-2026", date(2026, 1, 12), "winter-sale", (("at_risk", "winter-comeback"),)),
)
_SEGMENTS = ("champions", "loyal", "at_risk", "new")


@dataclass(frozen=True)
class DemoFiles:
    """The CSV files one ``generate`` call wrote."""

    customers: Path
    orders: Path
    order_lines: Path
    contacts: Path
    unsubscribes: Path
    coupons: Path


@dataclass
class _Customers:
    """What later steps need to know about each customer (index = position in customers.csv)."""

    ids: list[str]
    frame: pd.DataFrame
    has_email: NDArray[np.bool_]
    consent_yes: NDArray[np.bool_]
    objection: NDArray[np.bool_]
    address_ok: NDArray[np.bool_]
    signup: IntArray  # day index
    favourite: IntArray  # category index
    price_level: NDArray[np.float64]  # typical unit price in EUR


@dataclass
class _Orders:
    cust: IntArray  # customer index, -1 for a guest
    day: IntArray  # days since the window start (local calendar)
    sec: IntArray  # local seconds of the day
    status: IntArray  # index into _STATUSES
    channel: IntArray  # index into _CHANNELS

    def __add__(self, other: _Orders) -> _Orders:
        return _Orders(*(np.concatenate([a, b]) for a, b in zip(self.parts(), other.parts(),
                                                               strict=True)))

    def parts(self) -> tuple[IntArray, ...]:
        return (self.cust, self.day, self.sec, self.status, self.channel)

    def take(self, index: IntArray) -> _Orders:
        return _Orders(*(a[index] for a in self.parts()))


@dataclass
class _Suppressions:
    cust: IntArray
    channel: list[str]
    since: IntArray


def generate(
    out_dir: Path,
    customers: int = 20_000,
    seed: int = 20260301,
    as_of: date = date(2026, 3, 1),
) -> DemoFiles:
    """Write the demo CSVs into ``out_dir``; the same arguments give byte-identical files.

    Orders cover the three years before ``as_of`` (up to the day before). A campaign in
    ``CAMPAIGNS`` is included only if it and its response window lie inside that span.
    """
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    rng = np.random.default_rng(seed)
    start = _years_before(as_of, 3)
    n_days = (as_of - start).days
    cust = _make_customers(rng, customers, n_days, start)
    orders = _baseline_orders(rng, cust, n_days, start)
    suppressions, unsub_frame = _make_suppressions(rng, cust, n_days, start)
    contact_frames = []
    for campaign in CAMPAIGNS:
        day = (campaign.contacted_at - start).days
        if day < 0 or day + RESPONSE_DAYS >= n_days:
            continue  # the demo calendar does not contain this campaign
        frame, responses = _run_campaign(rng, campaign, day, cust, orders, suppressions)
        contact_frames.append(frame)
        orders = orders + responses
    order_frame, line_frame = _finish_orders(rng, orders, cust, start)
    contacts = pd.concat(contact_frames, ignore_index=True) if contact_frames else (
        pd.DataFrame({c: [] for c in _CONTACT_COLUMNS}, dtype=str))
    files = DemoFiles(*(out_dir / f"{name}.csv" for name in ("customers", "orders", "order_lines",
                                                               "contacts", "unsubscribes",
                                                               "coupons")))
    for path, frame in zip(
        (files.customers, files.orders, files.order_lines, files.contacts, files.unsubscribes,
         files.coupons),
        (cust.frame, order_frame, line_frame, contacts, unsub_frame, _coupon_pool(rng, customers)),
        strict=True,
    ):
        write_text(path, frame.to_csv(index=False, lineterminator="\n"))
    return files


# --- calendar ---------------------------------------------------------------------------


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _day_strings(start: date, n_days: int) -> list[str]:
    return [(start + timedelta(days=d)).isoformat() for d in range(n_days)]


def _utc_offsets(start: date, n_days: int) -> list[str]:
    """The shop's UTC offset ("+01:00"/"+02:00") on each local day, taken at local noon."""
    out = []
    for d in range(n_days):
        day = start + timedelta(days=d)
        offset = datetime(day.year, day.month, day.day, 12, tzinfo=SHOP_ZONE).utcoffset()
        minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
        sign = "+" if minutes >= 0 else "-"
        out.append(f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}")
    return out


def _season_by_day(start: date, n_days: int) -> NDArray[np.float64]:
    months = (np.datetime64(start, "D") + np.arange(n_days)).astype("datetime64[M]")
    return _SEASON[months.astype(np.int64) % 12]


# --- customers --------------------------------------------------------------------------


def _pick(rng: np.random.Generator, options: Sequence[str], n: int) -> StrArray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def _ascii(text: str) -> str:
    """An e-mail-safe spelling: Müller -> mueller, Weiß -> weiss, Ciarán -> ciaran."""
    text = text.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    text = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(c for c in text if c.isascii() and c.isalnum())


def _make_customers(rng: np.random.Generator, n: int, n_days: int, start: date) -> _Customers:
    signup = np.sort(rng.integers(0, n_days, n))  # ids increase with signup
    german = rng.random(n) < 0.70
    country = np.where(german, np.where(rng.random(n) < 0.88, "DE", "AT"),
                       np.where(rng.random(n) < 0.85, "GB", "IE")).astype(object)
    female = rng.random(n) < 0.5
    first = np.where(german, np.where(female, _pick(rng, _DE_FEMALE, n), _pick(rng, _DE_MALE, n)),
                     np.where(female, _pick(rng, _EN_FEMALE, n), _pick(rng, _EN_MALE, n)))
    last = np.where(german, _pick(rng, _DE_LAST, n), _pick(rng, _EN_LAST, n))
    salutation = np.where(german, np.where(female, "Frau", "Herr"),
                          np.where(rng.random(n) < 0.02, "Mx", np.where(female, "Ms", "Mr")))
    street, postcode, city = _addresses(rng, country, german)
    address_ok = rng.random(n) >= 0.01
    blank_street = rng.random(n) < 0.5
    street = np.where(address_ok | ~blank_street, street, "")
    postcode = np.where(address_ok | blank_street, postcode, "")
    email = _emails(rng, first, last, country)
    consent = rng.choice(np.array(["yes", "no", ""], dtype=object), n, p=[0.55, 0.25, 0.20])
    objection = rng.random(n) < 0.05
    ids = [f"C{i + 1:06d}" for i in range(n)]
    frame = pd.DataFrame({
        "customer_id": ids,
        "email": email,
        "salutation": salutation.astype(str),
        "first_name": first,
        "last_name": last,
        "company": _companies(rng, german),
        "street": street,
        "postal_code": postcode,
        "city": city,
        "country": country,
        "locale": np.where(german, np.where(country == "AT", "de_AT", "de_DE"), "en_GB"),
        "signup_date": np.asarray(_day_strings(start, n_days), dtype=object)[signup],
        "email_consent": consent,
        "mail_objection": np.where(objection, "true", "false"),
    }, dtype=str)
    return _Customers(
        ids=ids, frame=frame, has_email=np.asarray([e != "" for e in email]),
        consent_yes=consent == "yes", objection=objection, address_ok=address_ok,
        signup=signup.astype(np.int64),
        favourite=rng.choice(len(_CATEGORIES), n, p=_CATEGORY_WEIGHTS).astype(np.int64),
        price_level=rng.lognormal(np.log(28.0), 0.5, n),
    )


def _addresses(
    rng: np.random.Generator, country: StrArray, german: NDArray[np.bool_]
) -> tuple[StrArray, StrArray, StrArray]:
    n = len(country)
    house = rng.integers(1, 150, n)
    suffix = np.where(rng.random(n) < 0.06, "a", "")
    de_street = [f"{s} {h}{x}" for s, h, x in zip(_pick(rng, _DE_STREETS, n), house, suffix,
                                                  strict=True)]
    en_street = [f"{h} {s}" for s, h in zip(_pick(rng, _EN_STREETS, n), house, strict=True)]
    street = np.where(german, np.asarray(de_street, dtype=object), np.asarray(en_street,
                                                                              dtype=object))
    postcode = np.empty(n, dtype=object)
    city = np.empty(n, dtype=object)
    for code in ("DE", "AT"):
        rows = np.flatnonzero(country == code)
        table = [c for c in _NUMERIC_CITIES if c[0] == code]
        pick = _weighted(rng, [c[2] for c in table], len(rows))
        lo = np.array([c[3] for c in table])[pick]
        hi = np.array([c[4] for c in table])[pick]
        numbers = rng.integers(lo, hi + 1)
        width = 5 if code == "DE" else 4
        postcode[rows] = [f"{v:0{width}d}" for v in numbers]
        city[rows] = [table[i][1] for i in pick]
    for code in ("GB", "IE"):
        rows = np.flatnonzero(country == code)
        coded = [c for c in _CODED_CITIES if c[0] == code]
        pick = _weighted(rng, [c[2] for c in coded], len(rows))
        outward = [coded[i][3][j % len(coded[i][3])]
                   for i, j in zip(pick, rng.integers(0, 8, len(rows)), strict=True)]
        inward = _inward_codes(rng, len(rows), code)
        postcode[rows] = [f"{o} {i}" for o, i in zip(outward, inward, strict=True)]
        city[rows] = [coded[i][1] for i in pick]
    return street, postcode, city


def _weighted(rng: np.random.Generator, weights: Sequence[float], n: int) -> IntArray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), n, p=p / p.sum()).astype(np.int64)


def _inward_codes(rng: np.random.Generator, n: int, country: str) -> list[str]:
    """UK inward codes ("1AA") or Eircode unique identifiers ("X285")."""
    if country == "GB":
        digits = rng.integers(0, 10, n)
        letters = rng.integers(0, len(_UK_INWARD_LETTERS), (n, 2))
        return [f"{d}{_UK_INWARD_LETTERS[a]}{_UK_INWARD_LETTERS[b]}"
                for d, (a, b) in zip(digits, letters, strict=True)]
    chars = rng.integers(0, len(_EIRCODE_CHARS), (n, 4))
    return ["".join(_EIRCODE_CHARS[c] for c in row) for row in chars]


def _emails(
    rng: np.random.Generator, first: StrArray, last: StrArray, country: StrArray
) -> list[str]:
    """Unique lower-case example.* addresses; ~4% empty, ~0.5% with stray spaces/capitals."""
    n = len(first)
    pattern = rng.integers(0, 4, n)
    number = rng.integers(1, 1000, n)
    domain_pick = rng.integers(0, 3, n)
    empty = rng.random(n) < 0.04
    messy = rng.random(n) < 0.005
    seen: set[str] = set()  # membership only; never iterated
    out = []
    for i in range(n):
        f, la = _ascii(first[i]), _ascii(last[i])
        local = (f"{f}.{la}", f"{f[0]}.{la}{number[i]}", f"{f}{la}{number[i] % 100:02d}",
                 f"{la}.{f[0]}")[pattern[i]]
        address = f"{local}@{_DOMAINS[country[i]][domain_pick[i]]}"
        if address in seen:
            address = f"{local}.{i + 1}@{_DOMAINS[country[i]][domain_pick[i]]}"
        seen.add(address)
        if empty[i]:
            out.append("")
        elif messy[i]:
            out.append(f" {address[0].upper()}{address[1:].replace('@example', '@Example')} ")
        else:
            out.append(address)
    return out


def _companies(rng: np.random.Generator, german: NDArray[np.bool_]) -> list[str]:
    n = len(german)
    b2b = rng.random(n) < 0.03
    de = [f"{a} {b} {c}" for a, b, c in zip(_pick(rng, _DE_LAST, n), _pick(rng, _DE_TRADES, n),
                                            _pick(rng, _DE_FORMS, n), strict=True)]
    en = [f"{a} {b} {c}" for a, b, c in zip(_pick(rng, _EN_LAST, n), _pick(rng, _EN_TRADES, n),
                                            _pick(rng, _EN_FORMS, n), strict=True)]
    return [(de[i] if german[i] else en[i]) if b2b[i] else "" for i in range(n)]


# --- orders -----------------------------------------------------------------------------


def _new_orders(rng: np.random.Generator, cust: IntArray, day: IntArray) -> _Orders:
    """Give orders a status, a channel and a local time of day (store orders in opening hours)."""
    n = len(cust)
    status = rng.choice(len(_STATUSES), n, p=_STATUS_P).astype(np.int64)
    channel = (rng.random(n) >= 0.85).astype(np.int64)
    online_hour = 6 + rng.choice(len(_ONLINE_HOURS), n, p=_ONLINE_HOURS / _ONLINE_HOURS.sum())
    store_hour = 9 + rng.choice(len(_STORE_HOURS), n, p=_STORE_HOURS / _STORE_HOURS.sum())
    hour = np.where(channel == 1, store_hour, online_hour)
    sec = (hour * 3600 + rng.integers(0, 3600, n)).astype(np.int64)
    return _Orders(cust.astype(np.int64), day.astype(np.int64), sec, status, channel)


def _baseline_orders(
    rng: np.random.Generator, cust: _Customers, n_days: int, start: date
) -> _Orders:
    """Each buyer: first order soon after signup, then Poisson repeats until they drop out."""
    n = len(cust.ids)
    lag = np.where(rng.random(n) < 0.55, 0, np.floor(rng.exponential(20.0, n))).astype(np.int64)
    birth = cust.signup + lag
    buyer = (rng.random(n) < 0.93) & (birth < n_days)
    rate = rng.gamma(0.9, 3.6 / 0.9, n) / 365.0  # orders per day while alive
    life = np.where(rng.random(n) < 0.30, 0.0, rng.exponential(600.0, n))  # one-off buyers
    span = np.where(buyer, np.clip(np.minimum(birth + life, n_days) - birth - 1, 0, None), 0.0)
    season = _season_by_day(start, n_days)
    # Poisson at the peak rate, thinned by season: a non-homogeneous process.
    counts = rng.poisson(rate * span * season.max())
    who = np.repeat(np.arange(n), counts)
    day = birth[who] + 1 + np.floor(rng.random(len(who)) * span[who]).astype(np.int64)
    keep = rng.random(len(who)) < season[day] / season.max()
    first = np.flatnonzero(buyer)
    orders = _new_orders(rng, np.concatenate([first, who[keep]]),
                         np.concatenate([birth[first], day[keep]]))
    n_guests = round(len(orders.cust) * 0.02 / 0.98)
    guest_day = rng.choice(n_days, n_guests, p=season / season.sum())
    return orders + _new_orders(rng, np.full(n_guests, -1), guest_day)


def _finish_orders(
    rng: np.random.Generator, orders: _Orders, cust: _Customers, start: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sort by time, number the orders, draw their lines; amount = sum of lines in cents."""
    seq = np.arange(len(orders.cust))
    orders = orders.take(np.lexsort((seq, orders.sec, orders.day)))
    n_days = int(orders.day.max()) + 1 if len(orders.day) else 0
    ids = [f"O{i + 1:07d}" for i in range(len(orders.cust))]
    lines, amount = _order_lines(rng, orders, cust, ids)
    days = np.asarray(_day_strings(start, n_days), dtype=object)[orders.day]
    offsets = np.asarray(_utc_offsets(start, n_days), dtype=object)[orders.day]
    stamps = [f"{d}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{o}"
              for d, s, o in zip(days, orders.sec, offsets, strict=True)]
    customer_ids = np.asarray([*cust.ids, ""], dtype=object)[orders.cust]  # -1 -> ""
    frame = pd.DataFrame({
        "order_id": ids,
        "customer_id": customer_ids,
        "ordered_at": stamps,
        "order_date": days,
        "amount": _money(amount),
        "currency": "EUR",
        "status": np.asarray(_STATUSES, dtype=object)[orders.status],
        "channel": np.asarray(_CHANNELS, dtype=object)[orders.channel],
    }, dtype=str)
    return frame, lines


def _order_lines(
    rng: np.random.Generator, orders: _Orders, cust: _Customers, ids: list[str]
) -> tuple[pd.DataFrame, IntArray]:
    """1-3 lines per order from the customer's favourite category mostly; prices in cents."""
    n = len(orders.cust)
    per_order = rng.choice(3, n, p=[0.55, 0.30, 0.15]) + 1
    order = np.repeat(np.arange(n), per_order)
    m = len(order)
    is_guest = orders.cust[order] < 0
    favourite = np.where(is_guest, rng.integers(0, len(_CATEGORIES), m),
                         cust.favourite[orders.cust[order]])
    category = np.where(rng.random(m) < _FAVOURITE_SHARE, favourite,
                        rng.integers(0, len(_CATEGORIES), m))
    product = rng.integers(0, 10, m)
    level = np.where(is_guest, rng.lognormal(np.log(28.0), 0.5, m),
                     cust.price_level[orders.cust[order]])
    factor = np.array([_CATALOGUE[c][1] for c in _CATEGORIES])[category]
    euros = np.maximum(2, np.rint(level * factor * rng.lognormal(0.0, 0.3, m))).astype(np.int64)
    ending = rng.choice(np.array([1, 10, 0, 51]), m, p=[0.5, 0.3, 0.1, 0.1])  # 9.99, 9.90 ...
    unit = euros * 100 - ending
    quantity = rng.choice(3, m, p=[0.82, 0.13, 0.05]).astype(np.int64) + 1
    starts = np.concatenate([[0], np.cumsum(per_order)[:-1]]).astype(np.int64)
    amount = np.add.reduceat(unit * quantity, starts) if m else np.zeros(0, dtype=np.int64)
    prefixes = [_CATALOGUE[c][0] for c in _CATEGORIES]
    names = [_CATALOGUE[c][2] for c in _CATEGORIES]
    frame = pd.DataFrame({
        "order_id": np.asarray(ids, dtype=object)[order],
        "sku": [f"{prefixes[c]}-{(p + 1) * 7 + c:04d}" for c, p in zip(category, product,
                                                                      strict=True)],
        "product": [names[c][p] for c, p in zip(category, product, strict=True)],
        "category": np.asarray(_CATEGORIES, dtype=object)[category],
        "quantity": quantity.astype(str),
        "unit_price": _money(unit),
    }, dtype=str)
    return frame, amount.astype(np.int64)


def _money(cents: IntArray) -> list[str]:
    """Integer cents as a decimal string with exactly two places (never via float)."""
    return [f"{c // 100}.{c % 100:02d}" for c in cents.tolist()]


# --- suppressions and contact history ----------------------------------------------------


def _make_suppressions(
    rng: np.random.Generator, cust: _Customers, n_days: int, start: date
) -> tuple[_Suppressions, pd.DataFrame]:
    """~1.5% of customers: mostly unsubscribes, some bounces, ~10% Art. 21 objections."""
    candidates = np.flatnonzero(cust.has_email)
    size = min(len(candidates), round(len(cust.ids) * 0.015))
    chosen = np.sort(rng.choice(candidates, size, replace=False)).astype(np.int64)
    # Fixed quotas (10% objections, 7% bounces) so even a small demo has every kind.
    quota = np.repeat([2, 1, 0], [round(size * 0.10), round(size * 0.07), size])[:size]
    kind = rng.permutation(quota)
    channel = np.asarray(["email", "email", "all"], dtype=object)[kind]
    reason = np.asarray(["unsubscribe", "bounce", "objection"], dtype=object)[kind]
    span = n_days - cust.signup[chosen]
    since = cust.signup[chosen] + np.floor(rng.random(size) * span).astype(np.int64)
    emails = [str(cust.frame["email"].iat[i]).strip().lower() for i in chosen]
    order = np.lexsort((np.asarray(emails, dtype=object), since))
    frame = pd.DataFrame({
        "email": np.asarray(emails, dtype=object)[order],
        "channel": channel[order],
        "reason": reason[order],
        "since": np.asarray(_day_strings(start, n_days), dtype=object)[since[order]],
    }, dtype=str)
    return _Suppressions(chosen, list(channel), since), frame


_CONTACT_COLUMNS = ("run_id", "campaign", "customer_id", "contacted_at", "channel", "segment",
                    "offer", "variant", "test_group", "content_hash")


def is_control(campaign: str, customer_id: str) -> bool:
    """The deterministic hold-out rule of the demo history: 10% by md5 of campaign and id."""
    digest = hashlib.md5(f"{campaign}:{customer_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 16**8 < CONTROL_SHARE


def _segments(orders: _Orders, day: int, n: int) -> tuple[NDArray[np.bool_], StrArray]:
    """Who bought (completed) in the 12 months before ``day``, and a plain RFM-style segment."""
    done = (orders.status == 0) & (orders.cust >= 0) & (orders.day < day)
    recent = done & (orders.day >= day - 365)
    count = np.bincount(orders.cust[recent], minlength=n)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, orders.cust[recent], orders.day[recent])
    first = np.full(n, day, dtype=np.int64)
    np.minimum.at(first, orders.cust[done], orders.day[done])
    segment = np.select(
        [first >= day - 90, count >= 4, day - last > 150],
        ["new", "champions", "at_risk"], default="loyal",
    ).astype(object)
    return count > 0, segment


def _channels(
    cust: _Customers, supp: _Suppressions, day: int
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Email where consented and not suppressed by then; else a letter unless objected."""
    n = len(cust.ids)
    no_email = np.zeros(n, dtype=bool)
    no_mail = np.zeros(n, dtype=bool)
    before = supp.since < day
    no_email[supp.cust[before]] = True
    objected = before & (np.asarray(supp.channel, dtype=object) == "all")
    no_mail[supp.cust[objected]] = True
    email = cust.consent_yes & cust.has_email & ~no_email
    letter = ~email & cust.address_ok & ~cust.objection & ~no_mail
    return email, letter


def _run_campaign(
    rng: np.random.Generator,
    campaign: Campaign,
    day: int,
    cust: _Customers,
    orders: _Orders,
    supp: _Suppressions,
) -> tuple[pd.DataFrame, _Orders]:
    """The contact rows of one past campaign and the extra orders its treatment caused."""
    n = len(cust.ids)
    active, segment = _segments(orders, day, n)
    email, letter = _channels(cust, supp, day)
    who = np.flatnonzero(active & (email | letter))
    ids = [cust.ids[i] for i in who]
    control = np.asarray([is_control(campaign.name, c) for c in ids], dtype=bool)
    channel = np.where(email[who], "email", "letter").astype(object)
    offer = [campaign.offer_for(s) for s in segment[who]]
    run_id = f"{campaign.name}-0001"
    content = [
        "" if ctl else hashlib.sha256(f"{run_id}:{o}:{ch}:{c}".encode()).hexdigest()[:16]
        for ctl, o, ch, c in zip(control, offer, channel, ids, strict=True)
    ]
    frame = pd.DataFrame({
        "run_id": run_id,
        "campaign": campaign.name,
        "customer_id": ids,
        "contacted_at": campaign.contacted_at.isoformat(),
        "channel": channel,
        "segment": segment[who],
        "offer": offer,
        "variant": [campaign.variant_for(o, c) for o, c in zip(offer, ids, strict=True)],
        "test_group": np.where(control, "control", "treatment").astype(object),
        "content_hash": content,
    }, columns=list(_CONTACT_COLUMNS), dtype=str)
    # The treatment effect: an extra order on days 1..29 after the contact.
    respond = ~control & (rng.random(len(who)) < RESPONSE_LIFT)
    responders = who[respond].astype(np.int64)
    when = day + rng.integers(1, RESPONSE_DAYS, len(responders))
    return frame, _new_orders(rng, responders, when)


def _coupon_pool(rng: np.random.Generator, customers: int) -> pd.DataFrame:
    """Unique come-back codes, one for every tenth customer: plenty for one campaign."""
    alphabet = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"))  # no 0/O, 1/I look-alikes
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < max(customers // 10, 10):
        code = "BACK-" + "".join(rng.choice(alphabet, 8))
        if code not in seen:
            seen.add(code)
            codes.append(code)
    return pd.DataFrame({"code": codes})
