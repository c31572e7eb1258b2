"""Header spellings in the languages marketers export in, and common columns that are not fields.

Localized Excel, Outlook, Google Contacts and CRM exports name their columns in the language of
whoever exported them. `SPELLINGS` lists, per language, the usual spellings of the standard
fields and tags; `COMMON_COLUMNS` the columns that are no standard field but turn up in most
exports (job title, website, city...), each suggested as a new custom field with a key and type.
Spellings are compared after `mapping.normalize_header` and with accents folded, so "Prenom"
finds "Prénom" and "TELEFONO" finds "Teléfono".
"""

from __future__ import annotations

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
