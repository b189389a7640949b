from crmreport.config.models import Sender
from crmreport.personalise.legal import imprint, objection_notice

SENDER = Sender(company="Demo Shop GmbH", street="Beispielweg 1", postal_code="01067",
                city="Dresden", country="DE", register="Amtsgericht Dresden, HRB 1",
                managing_director="Erika Beispiel", email="datenschutz@shop.example")


def test_imprint_names_company_address_register_and_director_in_the_language() -> None:
    assert imprint(SENDER, "de_DE") == [
        "Demo Shop GmbH", "Beispielweg 1, 01067 Dresden, Deutschland",
        "Registergericht: Amtsgericht Dresden, HRB 1", "Geschäftsführung: Erika Beispiel"]
    assert imprint(SENDER, "en_GB")[1] == "Beispielweg 1, 01067 Dresden, Germany"


def test_objection_notice_names_the_address_for_objections() -> None:
    assert "datenschutz@shop.example" in objection_notice(SENDER, "de_DE")
    assert objection_notice(None, "en_GB").startswith("You may object")
    assert "for example" not in objection_notice(None, "en_GB")
