"""German ERP exports (Excel or CSV): Kundenstamm and Belege/Aufträge.

CSV exports are usually ';'-separated Windows-1252 with decimal commas (1.234,56) and dates
as 31.12.2024; the reader detects all of these. Newsletter Ja/Nein/X/1/0 is the e-mail
consent; empty is unknown. A Gutschrift (status Gutschrift/Retoure: refunded) subtracts from
revenue only with a negative Betrag, as the net-revenue rule reads credit notes
(features/net_orders.py); one exported with a positive amount counts as a cancelled order.
"""

from __future__ import annotations

from crmreport.ingest.presets.base import Preset

CUSTOMERS: dict[str, str | tuple[str, ...]] = {
    "customer_id": ("Kundennummer", "Kunden-Nr.", "Kundennr", "Kunden-Nr"),
    "salutation": "Anrede", "first_name": "Vorname", "last_name": "Nachname",
    "company": ("Firma", "Firmenname"), "street": ("Straße", "Strasse", "Str."),
    "postal_code": "PLZ", "city": "Ort", "country": "Land",
    "email": ("E-Mail", "EMail", "E-Mail-Adresse", "Email"),
    "email_consent": ("Newsletter", "Newsletter-Einwilligung"),
    "mail_objection": ("Werbewiderspruch", "Postwerbung gesperrt"),
    "signup_date": ("Angelegt am", "Erstellt am", "Anlagedatum"),
}
ORDERS: dict[str, str | tuple[str, ...]] = {
    "order_id": ("Belegnummer", "Auftragsnummer", "Beleg-Nr.", "Rechnungsnummer"),
    "customer_id": ("Kundennummer", "Kunden-Nr.", "Kundennr"),
    "order_date": ("Belegdatum", "Datum", "Auftragsdatum", "Rechnungsdatum"),
    "amount": ("Betrag", "Gesamtbetrag", "Brutto", "Summe"),
    "currency": "Währung", "status": "Status", "channel": ("Kanal", "Vertriebskanal"),
}

PRESET = Preset(
    name="de-erp",
    description="German ERP customer and order exports (';', cp1252, 1.234,56, 31.12.2024)",
    columns={"customers": CUSTOMERS, "orders": ORDERS},
    signature={"customers": ("Kundennummer", "Nachname"),
               "orders": ("Kundennummer", "Belegnummer")},
    date_formats=("%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S"),
)
