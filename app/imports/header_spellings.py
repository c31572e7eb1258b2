"""Header spellings in the languages marketers export in, and common columns that are not fields.

Localized Excel, Outlook, Google Contacts and CRM exports name their columns in the language of
whoever exported them. `SPELLINGS` lists, per language, the usual spellings of the standard
fields and tags; `COMMON_COLUMNS` the columns that are no standard field but turn up in most
exports (job title, website, city...), each suggested as a new custom field with a key and type.
`ALIASES` holds the spellings real exports use (Outlook, Google Contacts, Mailchimp, our own).
Spellings are compared after `normalize_header` and with accents folded (`ALIAS_INDEX`), so
"Prenom" finds "Prénom" and "TELEFONO" finds "Teléfono".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# language -> target spec -> spellings
SPELLINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "German": {
        "email": ("E-Mail-Adresse", "Email-Adresse", "Mail-Adresse", "E-Mail Adresse"),
        "first_name": ("Vorname",),
        "last_name": ("Nachname", "Familienname"),
        "company": ("Firma", "Unternehmen", "Firmenname"),
        "phone": (
            "Telefon",
            "Telefonnummer",
            "Handy",
            "Handynummer",
            "Mobiltelefon",
            "Mobilnummer",
        ),
        "tags": ("Schlagwörter", "Gruppen"),
    },
    "French": {
        "email": (
            "Courriel",
            "Adresse e-mail",
            "Adresse email",
            "Adresse électronique",
            "Adresse mail",
        ),
        "first_name": ("Prénom",),
        "last_name": ("Nom", "Nom de famille"),
        "company": ("Société", "Entreprise", "Nom de l'entreprise"),
        "phone": ("Téléphone", "Numéro de téléphone", "Portable", "Téléphone mobile"),
        "tags": ("Étiquettes", "Groupes"),
    },
    "Spanish": {
        "email": (
            "Correo electrónico",
            "Correo",
            "Dirección de correo electrónico",
            "Dirección de correo",
        ),
        "first_name": ("Nombre", "Nombre de pila"),
        "last_name": ("Apellido", "Apellidos"),
        "company": ("Empresa", "Compañía", "Nombre de la empresa"),
        "phone": ("Teléfono", "Número de teléfono", "Móvil", "Teléfono móvil", "Celular"),
        "tags": ("Etiquetas", "Grupos"),
    },
    "Italian": {
        "email": ("Indirizzo email", "Indirizzo e-mail", "Posta elettronica"),
        "first_name": ("Nome",),
        "last_name": ("Cognome",),
        "company": ("Azienda", "Società", "Ragione sociale"),
        "phone": ("Telefono", "Numero di telefono", "Cellulare", "Telefono cellulare"),
        "tags": ("Etichette", "Gruppi"),
    },
    "Dutch": {
        "email": ("E-mailadres", "Emailadres", "E-mail adres"),
        "first_name": ("Voornaam",),
        "last_name": ("Achternaam",),
        "company": ("Bedrijf", "Bedrijfsnaam", "Organisatie"),
        "phone": ("Telefoon", "Telefoonnummer", "Mobiel", "Mobiele telefoon", "Mobiel nummer"),
        "tags": ("Groepen",),
    },
    "Portuguese": {
        "email": (
            "Endereço de e-mail",
            "Endereço de email",
            "Correio eletrónico",
            "Correio eletrônico",
        ),
        "first_name": ("Nome", "Primeiro nome"),
        "last_name": ("Apelido", "Sobrenome", "Último nome"),
        "company": ("Empresa", "Companhia", "Nome da empresa"),
        "phone": ("Telefone", "Telemóvel", "Celular", "Número de telefone"),
        "tags": ("Etiquetas", "Marcadores", "Grupos"),
    },
    "Polish": {
        "email": ("Adres e-mail", "Adres email", "E-mail adres"),
        "first_name": ("Imię",),
        "last_name": ("Nazwisko",),
        "company": ("Firma", "Nazwa firmy"),
        "phone": ("Telefon", "Numer telefonu", "Telefon komórkowy", "Komórka"),
        "tags": ("Tagi", "Etykiety", "Grupy"),
    },
    "Swedish": {
        "email": ("E-postadress", "E-post", "Epost"),
        "first_name": ("Förnamn",),
        "last_name": ("Efternamn",),
        "company": ("Företag", "Företagsnamn"),
        "phone": ("Telefon", "Telefonnummer", "Mobiltelefon", "Mobilnummer", "Mobil"),
        "tags": ("Etiketter", "Grupper"),
    },
    "Danish": {
        "email": ("E-mailadresse", "Mailadresse", "E-mail-adresse"),
        "first_name": ("Fornavn",),
        "last_name": ("Efternavn",),
        "company": ("Virksomhed", "Firma", "Firmanavn"),
        "phone": ("Telefon", "Telefonnummer", "Mobil", "Mobilnummer"),
        "tags": ("Etiketter", "Grupper"),
    },
    "Norwegian": {
        "email": ("E-postadresse", "E-post", "Epost"),
        "first_name": ("Fornavn",),
        "last_name": ("Etternavn",),
        "company": ("Firma", "Bedrift", "Firmanavn"),
        "phone": ("Telefon", "Telefonnummer", "Mobil", "Mobilnummer"),
        "tags": ("Etiketter", "Grupper"),
    },
}


@dataclass(frozen=True)
class CommonColumn:
    """A column most exports have that is no standard field: a new custom field's key and type."""

    key: str
    label: str
    custom_type: str
    spellings: dict[str, tuple[str, ...]]  # language -> spellings
    typed_by_values: bool = False  # may take the type its values have (else only fall to text)


COMMON_COLUMNS: tuple[CommonColumn, ...] = (
    CommonColumn(
        "job_title",
        "Job title",
        "text",
        {
            "English": (
                "Job Title",
                "Job",
                "Position",
                "Role",
                "Job Role",
                "Organization 1 - Title",
            ),
            "German": ("Position", "Berufsbezeichnung", "Jobtitel", "Funktion"),
            "French": ("Poste", "Fonction", "Titre du poste", "Intitulé du poste"),
            "Spanish": ("Cargo", "Puesto"),
            "Italian": ("Ruolo", "Qualifica", "Posizione"),
            "Dutch": ("Functie", "Functietitel"),
            "Portuguese": ("Cargo", "Função"),
            "Polish": ("Stanowisko",),
            "Swedish": ("Befattning", "Titel", "Roll"),
            "Danish": ("Stilling", "Jobtitel", "Titel"),
            "Norwegian": ("Stilling", "Tittel"),
        },
    ),
    CommonColumn(
        "website",
        "Website",
        "text",
        {
            "English": ("Website", "Web Site", "Web Page", "Homepage", "URL", "Website URL"),
            "German": ("Webseite", "Internetseite", "Homepage"),
            "French": ("Site web", "Site internet"),
            "Spanish": ("Sitio web", "Página web"),
            "Italian": ("Sito web", "Sito internet"),
            "Dutch": ("Website",),
            "Portuguese": ("Site", "Sítio web", "Página web"),
            "Polish": ("Strona internetowa", "Strona WWW", "Strona"),
            "Swedish": ("Webbplats", "Hemsida"),
            "Danish": ("Hjemmeside",),
            "Norwegian": ("Nettsted", "Hjemmeside", "Nettside"),
        },
    ),
    CommonColumn(
        "address",
        "Address",
        "text",
        {
            "English": (
                "Address",
                "Street",
                "Street Address",
                "Address Line 1",
                "Address 1",
                "Mailing Address",
                "Home Street",
                "Business Street",
            ),
            "German": ("Adresse", "Straße", "Anschrift"),
            "French": ("Adresse", "Rue", "Adresse postale"),
            "Spanish": ("Dirección", "Calle", "Domicilio"),
            "Italian": ("Indirizzo", "Via"),
            "Dutch": ("Adres", "Straat", "Straatnaam"),
            "Portuguese": ("Morada", "Endereço", "Rua"),
            "Polish": ("Adres", "Ulica"),
            "Swedish": ("Adress", "Gatuadress"),
            "Danish": ("Adresse", "Gade", "Vej"),
            "Norwegian": ("Adresse", "Gateadresse"),
        },
    ),
    CommonColumn(
        "city",
        "City",
        "text",
        {
            "English": ("City", "Town", "Home City", "Business City", "Locality"),
            "German": ("Stadt", "Ort", "Wohnort"),
            "French": ("Ville", "Localité"),
            "Spanish": ("Ciudad", "Localidad", "Población"),
            "Italian": ("Città", "Località", "Comune"),
            "Dutch": ("Plaats", "Woonplaats", "Stad"),
            "Portuguese": ("Cidade", "Localidade"),
            "Polish": ("Miasto", "Miejscowość"),
            "Swedish": ("Stad", "Ort", "Postort"),
            "Danish": ("By",),
            "Norwegian": ("By", "Poststed"),
        },
    ),
    CommonColumn(
        "state",
        "State or region",
        "text",
        {
            "English": ("State", "Region", "Province", "County", "State/Province", "State/Region"),
            "German": ("Bundesland", "Region", "Kanton"),
            "French": ("Région", "Département", "Province"),
            "Spanish": ("Provincia", "Región", "Estado", "Comunidad autónoma"),
            "Italian": ("Provincia", "Regione"),
            "Dutch": ("Provincie",),
            "Portuguese": ("Estado", "Distrito", "Região"),
            "Polish": ("Województwo",),
            "Swedish": ("Län", "Region"),
            "Danish": ("Region",),
            "Norwegian": ("Fylke",),
        },
    ),
    CommonColumn(
        "postal_code",
        "Postal code",
        "text",
        {
            "English": (
                "Postal Code",
                "Postcode",
                "Zip",
                "Zip Code",
                "ZIP/Postal Code",
                "Post Code",
                "Home Postal Code",
                "Business Postal Code",
            ),
            "German": ("PLZ", "Postleitzahl"),
            "French": ("Code postal",),
            "Spanish": ("Código postal",),
            "Italian": ("CAP", "Codice postale"),
            "Dutch": ("Postcode",),
            "Portuguese": ("Código postal", "CEP"),
            "Polish": ("Kod pocztowy",),
            "Swedish": ("Postnummer",),
            "Danish": ("Postnummer", "Postnr"),
            "Norwegian": ("Postnummer",),
        },
    ),
    CommonColumn(
        "country",
        "Country",
        "text",
        {
            "English": (
                "Country",
                "Country/Region",
                "Country Name",
                "Home Country/Region",
                "Business Country/Region",
            ),
            "German": ("Land",),
            "French": ("Pays",),
            "Spanish": ("País",),
            "Italian": ("Paese", "Nazione", "Stato"),
            "Dutch": ("Land",),
            "Portuguese": ("País",),
            "Polish": ("Kraj",),
            "Swedish": ("Land",),
            "Danish": ("Land",),
            "Norwegian": ("Land",),
        },
    ),
    CommonColumn(
        "birthday",
        "Birthday",
        "date",
        {
            "English": ("Birthday", "Birth Date", "Birthdate", "Date of Birth", "DOB"),
            "German": ("Geburtstag", "Geburtsdatum"),
            "French": ("Date de naissance", "Anniversaire"),
            "Spanish": ("Fecha de nacimiento", "Cumpleaños"),
            "Italian": ("Data di nascita", "Compleanno"),
            "Dutch": ("Geboortedatum", "Verjaardag"),
            "Portuguese": ("Data de nascimento", "Aniversário"),
            "Polish": ("Data urodzenia", "Urodziny"),
            "Swedish": ("Födelsedatum", "Födelsedag"),
            "Danish": ("Fødselsdato", "Fødselsdag"),
            "Norwegian": ("Fødselsdato", "Bursdag"),
        },
    ),
    CommonColumn(
        "lead_source",
        "Lead source",
        "text",
        {
            "English": (
                "Lead Source",
                "Source",
                "Original Source",
                "Lead Origin",
                "Contact Source",
            ),
            "German": ("Quelle", "Lead-Quelle", "Herkunft"),
            "French": ("Source", "Origine", "Origine du prospect"),
            "Spanish": ("Origen", "Fuente", "Origen del cliente potencial"),
            "Italian": ("Fonte", "Origine", "Origine del lead"),
            "Dutch": ("Bron", "Leadbron"),
            "Portuguese": ("Origem", "Fonte", "Origem do lead"),
            "Polish": ("Źródło",),
            "Swedish": ("Källa",),
            "Danish": ("Kilde",),
            "Norwegian": ("Kilde",),
        },
        typed_by_values=True,
    ),
)
COMMON_BY_KEY = {column.key: column for column in COMMON_COLUMNS}


# Header spellings seen in real exports -> (target spec, where the spelling comes from).
# Headers equal to a field key or label ("Email", "First Name", "TAGS", ...) match exactly and
# need no entry here.
ALIASES: dict[str, tuple[str, str]] = {
    "E-mail 1 - Value": ("email", "Google Contacts"),
    "E-mail Address": ("email", "Outlook"),
    "Email Address": ("email", "Mailchimp, LinkedIn"),
    "E-mail": ("email", "common spelling"),
    "Mail": ("email", "common spelling"),
    "Given Name": ("first_name", "Google Contacts"),
    "Firstname": ("first_name", "common spelling"),
    "Forename": ("first_name", "common spelling"),
    "FName": ("first_name", "common abbreviation"),
    "Family Name": ("last_name", "Google Contacts"),
    "Lastname": ("last_name", "common spelling"),
    "Surname": ("last_name", "common spelling"),
    "LName": ("last_name", "common abbreviation"),
    "Organization 1 - Name": ("company", "Google Contacts"),
    "Organization Name": ("company", "Google Contacts"),
    "Company Name": ("company", "HubSpot"),
    "Account Name": ("company", "Salesforce"),
    "Organization": ("company", "common spelling"),
    "Organisation": ("company", "common spelling"),
    "Employer": ("company", "common spelling"),
    "Business": ("company", "common spelling"),
    "Phone 1 - Value": ("phone", "Google Contacts"),
    "Mobile Phone": ("phone", "Outlook"),
    "Business Phone": ("phone", "Outlook"),
    "Home Phone": ("phone", "Outlook"),
    "Primary Phone": ("phone", "Outlook"),
    "Phone Number": ("phone", "Mailchimp, HubSpot"),
    "Mobile Phone Number": ("phone", "HubSpot"),
    "Mobile": ("phone", "Salesforce"),
    "Mobile Number": ("phone", "common spelling"),
    "Cell Phone": ("phone", "common spelling"),
    "Telephone": ("phone", "common spelling"),
    "Tel": ("phone", "common abbreviation"),
    "Cell": ("phone", "common abbreviation"),
    "Email Marketing Consent": ("subscription_status", "Klaviyo"),
    "Unsubscribed from all email": ("subscription_status", "HubSpot"),
    "Opted out of all email": ("subscription_status", "HubSpot"),
    "Opted out of email": ("subscription_status", "HubSpot"),
    "Email Opt Out": ("subscription_status", "Salesforce"),
    "Email Blacklisted": ("subscription_status", "Brevo"),
    "Blacklisted": ("subscription_status", "Brevo"),
    "Member Status": ("subscription_status", "Mailchimp"),
    "Email Status": ("subscription_status", "common spelling"),
    "Subscriber Status": ("subscription_status", "common spelling"),
    "Status": ("subscription_status", "common spelling"),
    "Opt-in": ("subscription_status", "common spelling"),
    "OPTIN_TIME": ("consented_on", "Mailchimp"),
    "Opt-in Date": ("consented_on", "common spelling"),
    "UNSUB_TIME": ("unsubscribed_on", "Mailchimp"),
    "Unsubscribed Date": ("unsubscribed_on", "common spelling"),
    "Group Membership": ("tags", "Google Contacts"),
    "Labels": ("tags", "common spelling"),
    "Groups": ("tags", "common spelling"),
}

# Aliases shorter than this ("Tel", "FName") are abbreviations: they only ever match exactly.

_SEPARATORS = re.compile(r"[\s\-_./]+")


def normalize_header(header: str) -> str:
    """Fold a header for comparison: NFKC, casefold, separators to one space, no punctuation."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", header).casefold())
    text = _SEPARATORS.sub(" ", text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PSC")
    return " ".join(text.split())


def fold_accents(text: str) -> str:
    """Drop accents, so a header typed without them ("Prenom") finds "Prénom"."""
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )


@dataclass(frozen=True)
class Alias:
    """A known spelling: the target spec it stands for, and where it comes from."""

    spelling: str
    spec: str
    detail: str
    common: CommonColumn | None = None
    typo_target: bool = False  # the exports' own spellings: a header may be a typo of one


def _languages(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def _alias_index() -> dict[str, Alias]:
    """Folded spelling -> the alias it is (exports' own spellings first, then by language).

    A spelling two languages share for one target names both; one spelling for two targets is a
    mistake in the tables, refused here (and by a test).
    """
    found: dict[str, tuple[str, str, list[str], CommonColumn | None]] = {}

    def add(spelling: str, spec: str, source: str, common: CommonColumn | None = None) -> None:
        key = fold_accents(normalize_header(spelling))
        if key in found:
            if found[key][1] != spec:
                raise ValueError(f"'{spelling}' is listed for {found[key][1]} and for {spec}")
            if source not in found[key][2]:
                found[key][2].append(source)
            return
        found[key] = (spelling, spec, [source], common)

    for spelling, (spec, source) in ALIASES.items():
        add(spelling, spec, f"app:{source}")
    for language, fields in SPELLINGS.items():
        for spec, spellings in fields.items():
            for spelling in spellings:
                add(spelling, spec, language)
    for column in COMMON_COLUMNS:
        for language, spellings in column.spellings.items():
            for spelling in spellings:
                add(spelling, f"{column.key}:{column.custom_type}", language, column)

    index = {}
    for key, (spelling, spec, sources, common) in found.items():
        from_app = sources[0].startswith("app:")
        if from_app:
            detail = f"Matches the alias '{spelling}' ({sources[0][4:]})"
        elif common is not None:
            detail = f"A common column ('{spelling}' in {_languages(sources)})"
        else:
            detail = f"Known spelling, {_languages(sources)} ('{spelling}')"
        index[key] = Alias(spelling, spec, detail, common, typo_target=from_app)
    return index


ALIAS_INDEX = _alias_index()
