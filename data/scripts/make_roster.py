"""Write the demo study's synthetic roster and identifier lists (run once; output committed).

Every name here is invented for the demo: first names common in each language paired with
made-up surnames, so nothing refers to a real person. Counts reproduce Table 2 of Ramesh,
Charles et al. (2023) exactly; participant numbers and descriptions match every published
quote attribution (see data/README.md). Deterministic: no randomness at all.

    python data/scripts/make_roster.py   # rewrites data/synthetic/restricted/{roster,identifiers}.tsv
"""
from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "synthetic" / "restricted"

# (number, transcript, name, aliases, role, gender, label, case_sensitive)
R = []


def add(site, rows):
    for row in rows:
        R.append((site, *row))


# --- Ulm: 12 = 1 psw, 10 mh_worker, 1 policy_maker; 4 male, 8 female -------------------------
add("ulm", [
    ("1", "FG1", "Sabine Kieselbach", "Sabine K.|Sabine", "mh_worker", "female", "", ""),
    ("2", "FG1", "Markus Tannhöfer", "Markus T.|Markus", "mh_worker", "male", "", ""),
    ("3", "FG1", "Heike Wurzelbacher", "Heike W.|Heike", "mh_worker", "female", "", ""),
    ("4", "FG1", "Jonas Quellbrunn", "Jonas Q.|Jonas", "psw", "male", "", ""),
    ("5", "FG1", "Katrin Moosberger", "Katrin M.|Katrin", "mh_worker", "female", "", ""),
    ("6", "FG1", "Ute Fliederkamp", "Ute F.|Ute", "policy_maker", "female", "", ""),
    ("7", "FG2", "Petra Holunderich", "Petra H.|Petra", "mh_worker", "female", "", ""),
    ("8", "FG2", "Dirk Schlehenried", "Dirk S.|Dirk", "mh_worker", "male", "", ""),
    ("9", "FG2", "Claudia Ebereschner", "Claudia E.|Claudia", "mh_worker", "female", "", ""),
    ("10", "FG2", "Renate Hagebüttel", "Renate H.|Renate", "mh_worker", "female", "", ""),
    ("11", "FG2", "Stefan Wacholderer", "Stefan W.|Stefan", "mh_worker", "male", "", ""),
    ("12", "FG2", "Ines Mistelbrand", "Ines M.|Ines", "mh_worker", "female", "", ""),
    ("F1", "FG1|FG2", "Lena Brombeerhag", "Lena B.|Lena", "facilitator", "female", "", ""),
])
# --- Hamburg: 12 = 7 psw, 5 mh_worker; 4 male, 8 female ----------------------------------------
add("hamburg", [
    ("1", "FG1", "Miriam Deichgräber", "Miriam D.|Miriam", "psw", "female", "", ""),
    ("2", "FG1", "Tobias Krabbenhöft", "Tobias K.|Tobias", "psw", "male", "", ""),
    ("3", "FG1", "Birgit Fleetenkamp", "Birgit F.|Birgit", "mh_worker", "female", "", ""),
    ("4", "FG1", "Nele Elbstrander", "Nele E.|Nele", "psw", "female", "", ""),
    ("5", "FG1", "Sven Möwenhorst", "Sven M.|Sven", "mh_worker", "male", "", ""),
    ("6", "FG1", "Tanja Priggenhagen", "Tanja P.|Tanja", "psw", "female", "", ""),
    ("7", "FG2", "Carola Sielmannsweg", "Carola S.|Carola", "mh_worker", "female", "", ""),
    ("8", "FG2", "Frank Tidenbrook", "Frank T.|Frank", "psw", "male", "", "yes"),
    ("9", "FG2", "Monika Hafenrieth", "Monika H.|Monika", "psw", "female", "", ""),
    ("10", "FG2", "Gisela Wattkuhl", "Gisela W.|Gisela", "mh_worker", "female", "", ""),
    ("11", "FG2", "Ulf Kaispeicher", "Ulf K.|Ulf", "mh_worker", "male", "", ""),
    ("12", "FG2", "Jana Reetdachs", "Jana R.|Jana", "psw", "female", "", ""),
    ("F1", "FG1|FG2", "Wiebke Strandhafer", "Wiebke S.|Wiebke", "facilitator", "female", "", ""),
])
# --- Kampala: 32 in focus groups = 16 psw, 14 mh_worker, 1 mh_manager, 1 policy_maker;
#     10 male, 22 female. FG1/FG2 are the PSW groups, FG3/FG4 the other stakeholders.
#     #33-#35 are the three individual interviews (not focus-group participants: not in Table 2).
kampala_psw_f = ["Nakato", "Babirye", "Nansubuga", "Namuli", "Nabirye", "Nakimuli", "Namugga",
                 "Nalwoga", "Nakawesi", "Nabukeera", "Namatovu", "Nantongo"]
add("kampala", [
    ("1", "FG1", "Sarah Nakato Lwazimbe", "Sarah N.|Nakato", "psw", "female", "", ""),
    ("2", "FG1", "Peter Ssemakula Kyobe", "Peter S.|Ssemakula", "psw", "male", "", ""),
    ("3", "FG1", "Ruth Babirye Nsonga", "Ruth B.|Babirye", "psw", "female", "", ""),
    ("4", "FG1", "Grace Nansubuga Mbaziira", "Grace N.|Nansubuga", "psw", "female", "", ""),
    ("5", "FG1", "Esther Namuli Kyetume", "Esther N.|Namuli", "psw", "female", "", ""),
    ("6", "FG1", "Joseph Mukasa Lweera", "Joseph M.|Mukasa", "psw", "male", "", ""),
    ("7", "FG1", "Harriet Nabirye Kawuma", "Harriet N.|Nabirye", "psw", "female", "", ""),
    ("8", "FG1", "Agnes Nakimuli Ddungu", "Agnes N.|Nakimuli", "psw", "female", "", ""),
    ("9", "FG2", "Denis Okello Acanit", "Denis O.|Okello", "psw", "male", "", ""),
    ("10", "FG2", "Florence Namugga Sserwadda", "Florence N.|Namugga", "psw", "female", "", ""),
    ("11", "FG2", "Moses Kiggundu Batte", "Moses K.|Kiggundu", "psw", "male", "", ""),
    ("12", "FG2", "Betty Nalwoga Kayondo", "Betty N.|Nalwoga", "psw", "female", "", ""),
    ("13", "FG2", "Rose Nakawesi Mpiima", "Rose N.|Nakawesi", "psw", "female", "", ""),
    ("14", "FG2", "Juliet Nabukeera Sekiziyivu", "Juliet N.|Nabukeera", "psw", "female", "", ""),
    ("15", "FG2", "Irene Namatovu Kaggwa", "Irene N.|Namatovu", "psw", "female", "", ""),
    ("26", "FG2", "Prossy Nantongo Wamala", "Prossy N.|Nantongo", "psw", "female", "", ""),
    ("16", "FG3", "Charles Ssali Mutebi", "Charles S.|Ssali", "mh_worker", "male", "", ""),
    ("17", "FG3", "Annet Nassaka Bbosa", "Annet N.|Nassaka", "mh_worker", "female", "", ""),
    ("18", "FG3", "Robert Mugerwa Kisitu", "Robert M.|Mugerwa", "mh_worker", "male", "", ""),
    ("19", "FG3", "Sylvia Nakiganda Lule", "Sylvia N.|Nakiganda", "mh_worker", "female", "", ""),
    ("20", "FG3", "Olivia Nalubega Kasozi", "Olivia N.|Nalubega", "mh_worker", "female", "", ""),
    ("21", "FG3", "Josephine Nakayima Sembatya", "Josephine N.|Nakayima", "mh_worker", "female", "", ""),
    ("22", "FG3", "Henry Waswa Kibirige", "Henry W.|Waswa", "mh_worker", "male", "", ""),
    ("23", "FG3", "Winnie Nabatanzi Ssozi", "Winnie N.|Nabatanzi", "mh_worker", "female", "", ""),
    ("24", "FG3", "Margaret Namutebi Kalule", "Margaret N.|Namutebi", "mh_worker", "female", "", ""),
    ("25", "FG4", "Scovia Nanyonga Mayanja", "Scovia N.|Nanyonga", "mh_worker", "female", "", ""),
    ("27", "FG4", "Lydia Nakyanzi Musoke", "Lydia N.|Nakyanzi", "mh_worker", "female", "", ""),
    ("28", "FG4", "Brenda Nalule Kabuye", "Brenda N.|Nalule", "mh_worker", "female", "", ""),
    ("29", "FG4", "Samuel Kizza Ntambi", "Samuel K.|Kizza", "mh_worker", "male", "", ""),
    ("30", "FG4", "Edward Lubega Kasirye", "Edward L.|Lubega", "mh_manager", "male", "Manager", ""),
    ("31", "FG4", "Catherine Namagembe Ssekandi", "Catherine N.|Namagembe", "policy_maker", "female", "", ""),
    ("32", "FG4", "Patrick Kiwanuka Bulime", "Patrick K.|Kiwanuka", "mh_worker", "male", "", ""),
    ("33", "INT1", "Daniel Ssebuufu Kakooza", "Daniel S.|Ssebuufu", "psw", "male", "", ""),
    ("34", "INT2", "Mercy Nalweyiso Kitaka", "Mercy N.|Nalweyiso", "mh_worker", "female", "", ""),
    ("35", "INT3", "Godfrey Kayiwa Semwanga", "Godfrey K.|Kayiwa", "policy_maker", "male", "", ""),
    ("F1", "FG1|FG2|INT1|INT2", "Immaculate Nankya Lubowa", "Immaculate N.|Nankya", "facilitator", "female", "", ""),
    ("F2", "FG3|FG4|INT3", "Isaac Ssenkubuge Mulindwa", "Isaac S.|Ssenkubuge", "facilitator", "male", "", ""),
])
# --- Dar es Salaam: 16 = 12 mh_worker, 4 mh_manager; 7 male, 9 female ---------------------------
# Juma, Neema, Rehema, Baraka, Tumaini and Zawadi are also ordinary Kiswahili words (week, grace,
# mercy, blessing, hope, gift): matched case-sensitively. Likewise Kampala's Kisoboka ("it is
# possible"), Kintu ("thing") and Ssenge ("aunt") in Luganda. So is Hamburg's "Frank" (English "frank").
add("dar_es_salaam", [
    ("1", "FG1", "Juma Mkwawilo", "Juma M.|Juma|Mkwawilo", "mh_worker", "male", "", "yes"),
    ("2", "FG1", "Neema Kisangaji", "Neema K.|Neema|Kisangaji", "mh_worker", "female", "", "yes"),
    ("3", "FG1", "Rehema Mtondoro", "Rehema M.|Rehema|Mtondoro", "mh_worker", "female", "", "yes"),
    ("4", "FG1", "Saidi Kinyangali", "Saidi K.|Saidi|Kinyangali", "mh_manager", "male", "", ""),
    ("5", "FG1", "Halima Mpwapwani", "Halima M.|Halima|Mpwapwani", "mh_worker", "female", "", ""),
    ("6", "FG1", "Baraka Lukumbuzi", "Baraka L.|Baraka|Lukumbuzi", "mh_worker", "male", "", "yes"),
    ("7", "FG1", "Mwanaisha Chambezi", "Mwanaisha C.|Mwanaisha|Chambezi", "mh_manager", "female", "", ""),
    ("8", "FG1", "Asha Ngerengere", "Asha N.|Asha|Ngerengere", "mh_worker", "female", "", ""),
    ("9", "FG2", "Khamisi Mbuyuni", "Khamisi M.|Khamisi|Mbuyuni", "mh_worker", "male", "", ""),
    ("10", "FG2", "Rukia Kisemvule", "Rukia K.|Rukia|Kisemvule", "mh_worker", "female", "", ""),
    ("11", "FG2", "Faraji Mlandizi", "Faraji M.|Faraji|Mlandizi", "mh_manager", "male", "", ""),
    ("12", "FG2", "Salma Kibamba", "Salma K.|Salma|Kibamba", "mh_worker", "female", "", ""),
    ("13", "FG2", "Omari Vikindu", "Omari V.|Omari|Vikindu", "mh_worker", "male", "", ""),
    ("14", "FG2", "Tumaini Mzenga", "Tumaini M.|Tumaini|Mzenga", "mh_manager", "female", "", "yes"),
    ("15", "FG2", "Zuhura Kongowe", "Zuhura K.|Zuhura|Kongowe", "mh_worker", "female", "", ""),
    ("16", "FG2", "Hamisi Bunju", "Hamisi B.|Hamisi|Bunju", "mh_worker", "male", "", ""),
    ("F1", "FG1|FG2", "Zawadi Msasani-Kwembe", "Zawadi M.|Zawadi", "facilitator", "female", "", "yes"),
])
# --- Be'er Sheva: 14 = 2 psw, 8 mh_worker, 4 mh_manager; 5 male, 9 female ---------------------
# #8 is a consumer-provider in a management post: Table 2 counts a manager, the paper quotes a PSW.
add("beer_sheva", [
    ("1", "FG1", "מיכל ברקת-זהבי", "מיכל|Michal|Michal B.|Bareket-Zahavi", "mh_worker", "female", "", ""),
    ("2", "FG1", "יוסי אלמוגני", "יוסי|Yossi|Yossi A.|Almogani", "mh_worker", "male", "", ""),
    ("3", "FG1", "רונית צוקרמנדל", "רונית|Ronit|Ronit Z.|Zukermandel", "psw", "female", "", ""),
    ("4", "FG1", "אלון שקדיאלי", "אלון|Alon|Alon S.|Shkedieli", "psw", "male", "", ""),
    ("5", "FG1", "גלית רימוני", "גלית|Galit|Galit R.|Rimoni", "mh_worker", "female", "", ""),
    ("6", "FG1", "דנה תאנימור", "דנה|Dana|Dana T.|Tanimor", "mh_worker", "female", "", ""),
    ("7", "FG1", "אסף זיתוני", "אסף|Asaf|Asaf Z.|Zetoni", "mh_manager", "male", "", ""),
    ("8", "FG2", "רחל אגוזיאן", "רחל|Rachel|Rachel E.|Egoziyan", "mh_manager", "female", "PSW", ""),
    ("9", "FG2", "עידו רקפתי", "עידו|Ido|Ido R.|Rakafti", "mh_worker", "male", "", ""),
    ("10", "FG2", "יעל כלניתי", "יעל|Yael|Yael K.|Kalaniti", "mh_worker", "female", "", ""),
    ("11", "FG2", "משה דקלוני", "משה|Moshe|Moshe D.|Dikloni", "mh_manager", "male", "", ""),
    ("12", "FG2", "אביגיל נרקיסי", "אביגיל|Avigail|Avigail N.|Narkisi", "mh_worker", "female", "", ""),
    ("13", "FG2", "רינת סביוני", "רינת|Rinat|Rinat S.|Savyoni", "mh_manager", "female", "", ""),
    ("14", "FG2", "הדס אירוסי", "הדס|Hadas|Hadas I.|Irusi", "mh_worker", "female", "", ""),
    ("F1", "FG1|FG2", "עדי לבנוני", "עדי|Adi|Adi L.|Levanoni", "facilitator", "female", "", ""),
])

IDENTIFIERS = [
    # site, term, aliases, category, case_sensitive
    ("ulm", "Dr. Holzapfelmann", "Holzapfelmann", "person", ""),
    ("ulm", "Gerlinde Sauerampfer", "Gerlinde|Frau Sauerampfer", "person", ""),
    ("ulm", "Klinik Buchenhain", "Buchenhain", "hospital", ""),
    ("ulm", "Wiblingshofen", "", "place", ""),
    ("ulm", "Verein Lichtblick-Donautal", "Lichtblick-Donautal", "organisation", ""),
    ("hamburg", "Dr. Krusenbarg", "Krusenbarg", "person", ""),
    ("hamburg", "Heinrich Pfahlbürger", "Heinrich|Herr Pfahlbürger", "person", ""),
    ("hamburg", "Elbufer-Klinikum", "Elbufer", "hospital", ""),
    ("hamburg", "Steinwerder-Süd", "", "place", ""),
    ("hamburg", "Genesungsbegleiter Nord e.V.", "Genesungsbegleiter Nord", "organisation", ""),
    ("kampala", "Kisoboka Hill Hospital", "Kisoboka Hill|Kisoboka", "hospital", "yes"),
    ("kampala", "Nakulabye-Ssenge", "Ssenge", "place", "yes"),
    ("kampala", "Dr. Kasujja-Mpanga", "Kasujja-Mpanga|Kasujja", "person", ""),
    ("kampala", "Nalongo Kyakuwa", "Kyakuwa", "person", ""),
    ("kampala", "Kintu Mwesigwa-Ssozi", "Kintu|Mwesigwa-Ssozi", "person", "yes"),
    ("kampala", "Twekembe Peer Network", "Twekembe", "organisation", ""),
    ("dar_es_salaam", "Hospitali ya Mbweni-Kigoma", "Mbweni-Kigoma|Mbweni-Kigoma Hospital", "hospital", ""),
    ("dar_es_salaam", "Kwa Mtoro-Juu", "Mtoro-Juu", "place", ""),
    ("dar_es_salaam", "Dkt. Mwasapile", "Mwasapile|Dr. Mwasapile", "person", ""),
    ("dar_es_salaam", "Mama Kizingiti", "Kizingiti", "person", ""),
    ("dar_es_salaam", "Shirika la Tumaini Jipya", "Tumaini Jipya", "organisation", ""),
    ("beer_sheva", "מרכז שיקום נווה-רותם", "נווה-רותם|Neve-Rotem|Neve-Rotem Centre", "hospital", ""),
    ("beer_sheva", "ד״ר פלדמנוביץ", "פלדמנוביץ|Feldmanovich|Dr. Feldmanovich", "person", ""),
    ("beer_sheva", "שכונת גבעת-הדסים", "גבעת-הדסים|Givat-Hadasim", "place", ""),
    ("beer_sheva", "עמותת יד-לגשר", "יד-לגשר|Yad-LaGesher", "organisation", ""),
    ("*", "Kizimkazi-Ndogo", "", "place", ""),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cols = ["site", "transcript", "participant", "name", "aliases", "role", "gender", "label",
            "case_sensitive"]
    with open(OUT / "roster.tsv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(cols)
        for site, num, tr, name, aliases, role, gender, label, cs in R:
            w.writerow([site, tr, num, name, aliases, role, gender, label, cs])
    with open(OUT / "identifiers.tsv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["site", "term", "aliases", "category", "case_sensitive"])
        w.writerows(IDENTIFIERS)


if __name__ == "__main__":
    main()
