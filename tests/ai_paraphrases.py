"""How guests really ask the demo restaurant's FAQ questions: 6 paraphrases per entry, English and German.

Written without looking at the synonym table (they are how people write, typos included); the
retrieval test reports the share whose own entry ranks first (``test_ai_retrieval.py``).
"""

from __future__ import annotations

# FAQ question (as in omni_cli.commands.demo_assistant) -> paraphrases in the same language.
PARAPHRASES: dict[str, list[str]] = {
    "Do you have parking nearby?": [
        "Is there parking nearby?",
        "Where can I park my car?",
        "is there a car park close to you",
        "Any parking spots around the restaurant?",
        "Can I leave the car somewhere near?",
        "do you have parkng?",
    ],
    "Are dogs allowed?": [
        "Can I bring my dog?",
        "Are pets welcome?",
        "is it ok if we come with our puppy dog",
        "Do you allow dogs inside?",
        "dog friendly?",
        "We have a small dog, is that a problem?",
    ],
    "Do you have a kids menu?": [
        "Is there a children's menu?",
        "What can my kids eat?",
        "do you do smaller portions for children",
        "Coming with two kids, do you have a high chair?",
        "Is the restaurant family friendly?",
        "any food for a 4 year old child?",
    ],
    "Can we sit outside?": [
        "Do you have a terrace?",
        "Is there outdoor seating?",
        "can we eat outside tonight",
        "Do you have tables in the garden?",
        "Is the patio open?",
        "We'd love to sit outdoors, possible?",
    ],
    "Can I pay by card?": [
        "Do you take credit cards?",
        "Can I pay with Apple Pay?",
        "cash only?",
        "Do you accept Visa?",
        "is contactless payment possible",
        "How can I pay?",
    ],
    "Do you host private events or large groups?": [
        "We are a group of 20, can you fit us?",
        "Can I book the place for a birthday party?",
        "do you do private parties",
        "Is there a room for a company event?",
        "Planning a celebration for 25 people, is that possible?",
        "Can large groups come?",
    ],
    "Is the restaurant wheelchair accessible?": [
        "Can I come with a wheelchair?",
        "Is there step-free access?",
        "are there any steps at the entrance",
        "Do you have an accessible toilet?",
        "My mother uses a wheelchair, can she get in?",
        "is it accesible for disabled guests",
    ],
    "Do you have gluten-free options?": [
        "I'm coeliac, what can I eat?",
        "Do you have gluten free pasta?",
        "anything without gluten?",
        "Is there something for celiacs?",
        "Which dishes are gluten-free?",
        "Can you make the pasta gluten free?",
    ],
    "Gibt es Parkplätze in der Nähe?": [
        "Wo kann ich parken?",
        "Gibt es ein Parkhaus in der Nähe?",
        "kann man bei euch irgendwo das Auto abstellen",
        "Habt ihr Parkplätze?",
        "Wie sieht es mit Parkmöglichkeiten aus?",
        "parkplatz vorhanden?",
    ],
    "Sind Hunde erlaubt?": [
        "Darf ich meinen Hund mitbringen?",
        "Sind Haustiere erlaubt?",
        "Können wir mit Hund kommen?",
        "ist mein hund willkommen",
        "Wir haben einen kleinen Hund dabei, geht das?",
        "Hunde erlaubt?",
    ],
    "Habt ihr eine Kinderkarte?": [
        "Gibt es ein Kindermenü?",
        "Was können Kinder bei euch essen?",
        "Habt ihr einen Hochstuhl für unser Baby?",
        "kinderportionen möglich?",
        "Sind Kinder willkommen?",
        "Gibt es Gerichte für Kinder?",
    ],
    "Kann man draußen sitzen?": [
        "Habt ihr eine Terrasse?",
        "Gibt es Plätze im Freien?",
        "können wir heute draußen essen",
        "Habt ihr einen Garten?",
        "Ist die Terrasse offen?",
        "Sitzplätze draussen?",
    ],
    "Kann ich mit Karte zahlen?": [
        "Nehmt ihr Kreditkarten?",
        "Kann ich mit EC-Karte bezahlen?",
        "nur Barzahlung?",
        "Kann man kontaktlos zahlen?",
        "Wie kann ich bezahlen?",
        "Akzeptiert ihr Apple Pay?",
    ],
    "Kann man bei euch private Feiern oder große Gruppen ausrichten?": [
        "Wir sind eine Gruppe von 20 Leuten, habt ihr Platz?",
        "Kann ich bei euch meinen Geburtstag feiern?",
        "macht ihr private Feiern",
        "Habt ihr einen Raum für eine Firmenfeier?",
        "Wir planen eine Feier für 25 Personen, geht das?",
        "Können große Gruppen kommen?",
    ],
    "Ist das Restaurant barrierefrei?": [
        "Kann ich mit dem Rollstuhl kommen?",
        "Gibt es einen stufenlosen Eingang?",
        "gibt es Stufen am Eingang",
        "Habt ihr ein barrierefreies WC?",
        "Meine Mutter sitzt im Rollstuhl, kommt sie rein?",
        "ist es rollstuhlgerecht",
    ],
    "Habt ihr glutenfreie Gerichte?": [
        "Ich habe Zöliakie, was kann ich essen?",
        "Gibt es glutenfreie Pasta?",
        "etwas ohne Gluten?",
        "Habt ihr etwas für Zöliakiekranke?",
        "Welche Gerichte sind glutenfrei?",
        "Könnt ihr die Pasta glutenfrei machen?",
    ],
}

# Questions the demo's knowledge cannot answer: the suggester must decline them.
UNRELATED: list[str] = [
    "wifi password?",
    "What is the wifi password?",
    "What's the capital of France?",
    "Wie ist das WLAN-Passwort?",
    "Was ist die Hauptstadt von Frankreich?",
    "Who won the football match yesterday?",
    "Can you recommend a good dentist?",
]
