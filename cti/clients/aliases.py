"""Client fields as the import knows them, and the column names people give them.

Headers come from French, English and Romanian spreadsheets and CRM exports, written with or
without accents, spaces, dots or hyphens ("Tél. portable", "E-mail", "Nr. telefon"). They are
compared :func:`fold`-ed: lower case, accents removed, only letters and digits kept. A header
that matches nothing is reported as ignored, never guessed at by similarity: a wrong guess
would silently put, say, a fax number in the mobile field of ten thousand clients.
"""

from __future__ import annotations

import re
import unicodedata

#: Phone fields and the label their numbers get.
PHONE_FIELDS: dict[str, str] = {
    "phone": "other",
    "phone_mobile": "mobile",
    "phone_work": "work",
    "phone_home": "home",
    "phone_fax": "fax",
}

#: Every field a column can be mapped to (``city``, ``postcode`` and ``country`` are folded
#: into the address; ``first_name`` and ``last_name`` into the name).
FIELDS: tuple[str, ...] = (
    "name", "first_name", "last_name", "kind", "type", "company", "tags", "email", "address",
    "postcode", "city", "country", "notes", *PHONE_FIELDS,
)

_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "fullname", "displayname", "contact", "contactname", "nom", "nomcomplet",
             "nometprenom", "nomprenom", "prenometnom", "prenomnom", "nume", "numecomplet",
             "numesiprenume", "denumire", "client", "clientname", "nomclient", "numeclient"),
    "first_name": ("firstname", "givenname", "prenom", "prenume"),
    "last_name": ("lastname", "surname", "familyname", "nomdefamille", "numedefamilie"),
    "kind": ("kind", "nature", "entitytype", "personneoumorale", "tipentitate", "tippersoana"),
    "type": ("type", "clienttype", "typeclient", "typedeclient", "typecontact", "statut",
             "status", "category", "categorie", "tip", "tipclient", "categorieclient"),
    "company": ("company", "companyname", "organization", "organisation", "org", "employer",
                "societe", "entreprise", "raisonsociale", "employeur", "firma", "companie",
                "compania", "societate", "organizatie", "institutie", "business"),
    "tags": ("tags", "tag", "labels", "label", "keywords", "groups", "etiquettes",
             "etiquette", "motscles", "groupes", "etichete", "eticheta", "grupuri"),
    "email": ("email", "emails", "mail", "emailaddress", "courriel", "adresseemail",
              "adressemail", "adresseelectronique", "adresaemail", "adresademail", "posta",
              "postaelectronica"),
    "address": ("address", "street", "streetaddress", "address1", "adresse", "rue",
                "adressepostale", "adresa", "strada", "adresapostala"),
    "postcode": ("postcode", "postalcode", "zip", "zipcode", "codepostal", "cp",
                 "codpostal"),
    "city": ("city", "town", "ville", "commune", "localite", "oras", "localitate"),
    "country": ("country", "pays", "tara"),
    "notes": ("notes", "note", "comment", "comments", "remarks", "description", "commentaire",
              "commentaires", "remarque", "remarques", "observation", "observations",
              "observatii", "mentiuni", "comentarii", "descriere", "notite"),
    "phone": ("phone", "phonenumber", "telephone", "tel", "numero", "numerotelephone",
              "numerodetelephone", "telephonefixe", "fixe", "telefon", "nrtelefon",
              "numartelefon", "numardetelefon", "telefonfix", "fix", "primaryphone"),
    "phone_mobile": ("mobile", "mobilephone", "mobilenumber", "cell", "cellphone", "gsm",
                     "portable", "telportable", "telephoneportable", "telephonemobile",
                     "mobil", "telefonmobil", "nrmobil", "numarmobil", "celular"),
    "phone_work": ("work", "workphone", "businessphone", "officephone", "phonework",
                   "telpro", "telephonepro", "telephoneprofessionnel", "bureau", "telbureau",
                   "telephonebureau", "lignedirecte", "telefonserviciu", "telefonbirou",
                   "birou", "serviciu"),
    "phone_home": ("home", "homephone", "phonehome", "domicile", "teldomicile",
                   "telephonedomicile", "telephoneperso", "telperso", "acasa",
                   "telefonacasa", "telefondomiciliu", "telefonpersonal"),
    "phone_fax": ("fax", "faxnumber", "businessfax", "telecopie", "numerofax",
                  "telefax", "nrfax"),
}

_BY_ALIAS: dict[str, str] = {alias: f for f, aliases in _ALIASES.items() for alias in aliases}

#: Client type words (folded) of the three languages → the English type names of
#: ``clients.types``.
TYPE_ALIASES: dict[str, str] = {
    "fournisseur": "supplier", "furnizor": "supplier", "vendor": "supplier",
    "clients": "client", "customer": "client", "clientfidele": "client",
    "prospects": "prospect", "lead": "prospect", "prospectclient": "prospect",
    "probleme": "problem", "problematique": "problem", "problema": "problem",
    "problematic": "problem", "litige": "problem", "litigiu": "problem",
    "important": "vip", "premium": "vip",
}

#: Kind words (folded) → ``person`` or ``company``.
KIND_ALIASES: dict[str, str] = {
    **dict.fromkeys(("person", "personne", "particulier", "individual", "individu",
                     "personnephysique", "persoana", "persoanafizica", "pf", "private",
                     "contact"), "person"),
    **dict.fromkeys(("company", "societe", "entreprise", "organisation", "organization",
                     "professionnel", "pro", "personnemorale", "firma", "companie",
                     "societate", "persoanajuridica", "pj", "business", "org"), "company"),
}


def fold(text: str) -> str:
    """Lower case, accents removed, only letters and digits: "Tél. portable" → "telportable".
    Used for headers and for the words of the ``type`` and ``kind`` columns."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in decomposed
                                             if not unicodedata.combining(c)))


def guess_field(header: str) -> str:
    """The field a column header names, or "" when it names none. The field names themselves
    (``phone_mobile``) are accepted, so a cti export imports back without a mapping."""
    key = fold(header)
    for fname in FIELDS:
        if key == fold(fname):
            return fname
    return _BY_ALIAS.get(key, "")
