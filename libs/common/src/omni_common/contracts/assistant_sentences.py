# ruff: noqa: E501  (sentences read better as whole lines)
"""Built-in wording of the local suggester, per language; owners override any of it in their document.

One home for both sides: the suggester drafts with these sentences, the inbox shows them as the
defaults an owner may edit (``AssistantDocument.fallback_sentences``).
"""

from __future__ import annotations

from omni_common.contracts.assistant import AssistantDocument, FallbackSentences

SENTENCE_KEYS: tuple[str, ...] = tuple(FallbackSentences.model_fields)
# The languages the suggester detects and has built-in sentences for.
LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "it", "pt", "nl", "tr")
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "tr": "Turkish",
}

DEFAULT_SENTENCES: dict[str, dict[str, str]] = {
    "en": {
        "hi": "Hi!",
        "hi_formal": "Good day,",
        "bye": "Hope to see you soon!",
        "bye_formal": "We look forward to welcoming you.",
        "no_answer": "Thanks for your message! I don't have that information here; let me check with the team and get back to you shortly.",
        "other_language": "I only have this information in another language:",
        "hours": "Our opening hours: {hours}.",
        "menu": "From our menu: {items}.",
        "allergens": "{name} contains: {allergens}.",
        "no_allergens": "No allergens are listed for {name}; please tell us about any allergy so the kitchen can confirm.",
        "phone": "You can call us on {phone}.",
        "address": "You'll find us at {address}.",
    },
    "de": {
        "hi": "Hallo!",
        "hi_formal": "Guten Tag,",
        "bye": "Bis bald!",
        "bye_formal": "Wir freuen uns auf Ihren Besuch.",
        "no_answer": "Danke für Ihre Nachricht! Diese Information habe ich hier nicht; ich kläre das mit dem Team und melde mich gleich.",
        "other_language": "Diese Information habe ich nur in einer anderen Sprache:",
        "hours": "Unsere Öffnungszeiten: {hours}.",
        "menu": "Aus unserer Karte: {items}.",
        "allergens": "{name} enthält: {allergens}.",
        "no_allergens": "Für {name} sind keine Allergene angegeben; bitte nennen Sie uns Ihre Allergie, damit die Küche es bestätigen kann.",
        "phone": "Sie erreichen uns unter {phone}.",
        "address": "Sie finden uns hier: {address}.",
    },
    "fr": {
        "hi": "Bonjour !",
        "hi_formal": "Bonjour,",
        "bye": "À bientôt !",
        "bye_formal": "Au plaisir de vous accueillir.",
        "no_answer": "Merci pour votre message ! Je n'ai pas cette information ici ; je vérifie auprès de l'équipe et je reviens vers vous rapidement.",
        "other_language": "Je n'ai cette information que dans une autre langue :",
        "hours": "Nos horaires d'ouverture : {hours}.",
        "menu": "Sur notre carte : {items}.",
        "allergens": "{name} contient : {allergens}.",
        "no_allergens": "Aucun allergène n'est indiqué pour {name} ; merci de nous signaler toute allergie afin que la cuisine puisse confirmer.",
        "phone": "Vous pouvez nous appeler au {phone}.",
        "address": "Vous nous trouverez au {address}.",
    },
    "es": {
        "hi": "¡Hola!",
        "hi_formal": "Buenos días,",
        "bye": "¡Hasta pronto!",
        "bye_formal": "Será un placer recibirle.",
        "no_answer": "¡Gracias por su mensaje! No tengo esa información aquí; lo consulto con el equipo y le respondo enseguida.",
        "other_language": "Solo tengo esta información en otro idioma:",
        "hours": "Nuestro horario: {hours}.",
        "menu": "De nuestra carta: {items}.",
        "allergens": "{name} contiene: {allergens}.",
        "no_allergens": "No hay alérgenos indicados para {name}; díganos su alergia para que la cocina lo confirme.",
        "phone": "Puede llamarnos al {phone}.",
        "address": "Nos encontrará en {address}.",
    },
    "it": {
        "hi": "Ciao!",
        "hi_formal": "Buongiorno,",
        "bye": "A presto!",
        "bye_formal": "Saremo lieti di accogliervi.",
        "no_answer": "Grazie per il messaggio! Non ho questa informazione qui; verifico con il team e vi rispondo al più presto.",
        "other_language": "Ho questa informazione solo in un'altra lingua:",
        "hours": "I nostri orari di apertura: {hours}.",
        "menu": "Dal nostro menù: {items}.",
        "allergens": "{name} contiene: {allergens}.",
        "no_allergens": "Per {name} non sono indicati allergeni; segnalateci eventuali allergie così la cucina può confermare.",
        "phone": "Potete chiamarci al {phone}.",
        "address": "Ci trovate in {address}.",
    },
    "pt": {
        "hi": "Olá!",
        "hi_formal": "Bom dia,",
        "bye": "Até breve!",
        "bye_formal": "Será um prazer recebê-lo.",
        "no_answer": "Obrigado pela sua mensagem! Não tenho essa informação aqui; vou confirmar com a equipa e respondo em breve.",
        "other_language": "Só tenho esta informação noutra língua:",
        "hours": "O nosso horário: {hours}.",
        "menu": "Do nosso menu: {items}.",
        "allergens": "{name} contém: {allergens}.",
        "no_allergens": "Não há alergénios indicados para {name}; diga-nos se tem alguma alergia para a cozinha confirmar.",
        "phone": "Pode ligar-nos para o {phone}.",
        "address": "Encontra-nos em {address}.",
    },
    "nl": {
        "hi": "Hoi!",
        "hi_formal": "Goedendag,",
        "bye": "Tot snel!",
        "bye_formal": "We verwelkomen u graag.",
        "no_answer": "Bedankt voor uw bericht! Die informatie heb ik hier niet; ik vraag het na bij het team en laat het u snel weten.",
        "other_language": "Deze informatie heb ik alleen in een andere taal:",
        "hours": "Onze openingstijden: {hours}.",
        "menu": "Van onze kaart: {items}.",
        "allergens": "{name} bevat: {allergens}.",
        "no_allergens": "Voor {name} zijn geen allergenen vermeld; laat ons weten of u een allergie heeft, dan kan de keuken het bevestigen.",
        "phone": "U kunt ons bellen op {phone}.",
        "address": "U vindt ons op {address}.",
    },
    "tr": {
        "hi": "Merhaba!",
        "hi_formal": "İyi günler,",
        "bye": "Görüşmek üzere!",
        "bye_formal": "Sizi ağırlamayı dört gözle bekliyoruz.",
        "no_answer": "Mesajınız için teşekkürler! Bu bilgi elimde yok; ekiple kontrol edip size kısa süre içinde dönüş yapacağım.",
        "other_language": "Bu bilgiye yalnızca başka bir dilde sahibim:",
        "hours": "Çalışma saatlerimiz: {hours}.",
        "menu": "Menümüzden: {items}.",
        "allergens": "{name} şunları içerir: {allergens}.",
        "no_allergens": "{name} için alerjen belirtilmemiş; mutfağın teyit edebilmesi için lütfen alerjinizi bize bildirin.",
        "phone": "Bizi {phone} numarasından arayabilirsiniz.",
        "address": "Adresimiz: {address}.",
    },
}

# Titles of the knowledge entries made from the profile, in the restaurant's main language.
PROFILE_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "hours": "Opening hours",
        "address": "Address",
        "phone": "Phone",
        "policies": "Policies",
        "allergens": "Allergens",
    },
    "de": {
        "hours": "Öffnungszeiten",
        "address": "Adresse",
        "phone": "Telefon",
        "policies": "Regeln",
        "allergens": "Allergene",
    },
    "fr": {
        "hours": "Horaires d'ouverture",
        "address": "Adresse",
        "phone": "Téléphone",
        "policies": "Règles",
        "allergens": "Allergènes",
    },
    "es": {
        "hours": "Horario de apertura",
        "address": "Dirección",
        "phone": "Teléfono",
        "policies": "Normas",
        "allergens": "Alérgenos",
    },
    "it": {
        "hours": "Orari di apertura",
        "address": "Indirizzo",
        "phone": "Telefono",
        "policies": "Regole",
        "allergens": "Allergeni",
    },
    "pt": {
        "hours": "Horário de funcionamento",
        "address": "Morada",
        "phone": "Telefone",
        "policies": "Regras",
        "allergens": "Alergénios",
    },
    "nl": {
        "hours": "Openingstijden",
        "address": "Adres",
        "phone": "Telefoon",
        "policies": "Regels",
        "allergens": "Allergenen",
    },
    "tr": {
        "hours": "Çalışma saatleri",
        "address": "Adres",
        "phone": "Telefon",
        "policies": "Kurallar",
        "allergens": "Alerjenler",
    },
}


def sentences_for(doc: AssistantDocument, language: str) -> dict[str, str]:
    """The sentences in ``language``: the owner's wording over the built-in one (English if none)."""
    base = dict(DEFAULT_SENTENCES.get(language, DEFAULT_SENTENCES["en"]))
    own = doc.fallback_sentences.get(language)
    if own is not None:
        base.update({k: v.strip() for k, v in own.model_dump().items() if v.strip()})
    return base


def has_sentences(doc: AssistantDocument, language: str) -> bool:
    """True when the suggester can write in ``language`` (built in, or the owner wrote its sentences)."""
    own = doc.fallback_sentences.get(language)
    return language in DEFAULT_SENTENCES or (
        own is not None and all(getattr(own, k).strip() for k in ("no_answer", "hours", "menu"))
    )


def fill(sentence: str, **values: str) -> str:
    """``sentence`` with its known ``{placeholders}`` replaced (owner text may hold stray braces)."""
    for key, value in values.items():
        sentence = sentence.replace("{" + key + "}", value)
    return sentence
