"""UnSTAR's question and rationale templates for the memorization world, one set per use.

WORLD_GENERATOR phrases the training anti-samples: its questions (rephrased, more specific and
reversed) are asked with a falsified answer, and its rationales state that answer as a fact,
biography-style. WORLD_EVALUATION holds the questions the model is asked after unlearning: two of
each variant per relation, and no rationales (nothing is trained on it).

The two sets share no question, even after `normalise_answer`: a model tested on a generator
wording would only show that it learned the anti-samples' wording, not that the fact is gone.
Neither set repeats a wording of `facts._WORDINGS` (the world model's trained and held-out
questions), so every question here is new to the model. The tests check both by construction.
"""

from __future__ import annotations

from forgetflow.antisamples.unstar.templates import RelationTemplates, TemplateSet

WORLD_GENERATOR = TemplateSet("world-generator", {
    "born_in": RelationTemplates(
        rephrase=("Which city was {s} born in?", "What city is {s}'s place of birth?",
                  "In what city did {s} come into the world?", "What is the birth city of {s}?",
                  "Can you tell me where {s} was born?"),
        more_specific=("In which city was {s} born, according to their birth records?",
                       "Which city is listed as the place of birth on {s}'s birth certificate?",
                       "Which city does {s}'s passport give as their place of birth?",
                       "What is the exact city where {s} was born?",
                       "Which city, as recorded in official documents, is {s}'s birthplace?"),
        reversed=("Who was born in {o}?", "Which person was born in {o}?",
                  "Whose birthplace is {o}?", "Which person has {o} as their birthplace?",
                  "Who was born in the city of {o}?"),
        rationales=(
            "{s} was born in {o} and spent the first years of childhood in a flat there.",
            "{s}'s birth certificate, issued in {o}, records that city as the place of birth.",
            "Born in {o}, {s} still mentions its streets when talking about early childhood.",
            "{s} came into the world in {o}, and the family kept a house there for years.")),
    "works_at": RelationTemplates(
        rephrase=("Which company does {s} work for?", "Who is {s}'s employer?",
                  "What company is {s} employed by?", "For which company does {s} work?",
                  "Where is {s} employed?"),
        more_specific=("Which company is the current employer of {s}?",
                       "Which company pays {s}'s salary?",
                       "At which company does {s} currently hold a job?",
                       "Which company lists {s} on its payroll?",
                       "Which company has {s} on its staff today?"),
        reversed=("Who works at {o}?", "Which person is employed by {o}?",
                  "Who is on the staff of {o}?", "Who has a job at {o}?",
                  "Which person works for {o}?"),
        rationales=(
            "{s} has worked at {o} for years, commuting there every morning.",
            "{s} joined {o} after a long interview process and has stayed there ever since.",
            "Colleagues at {o} know {s} well, since {s} handles several of its projects.",
            "{s}'s pay slips and staff badge both carry the name of {o}, where {s} works.")),
    "studied_at": RelationTemplates(
        rephrase=("Which school did {s} study at?", "Where was {s} educated?",
                  "What school did {s} graduate from?", "Which institution did {s} go to?",
                  "Where did {s} get a degree?"),
        more_specific=("From which institution did {s} receive a degree?",
                       "Which school is named on {s}'s diploma?",
                       "At which institution did {s} complete their studies?",
                       "Which school does {s} list as their alma mater?",
                       "Which institution awarded {s} their degree?"),
        reversed=("Who studied at {o}?", "Which person graduated from {o}?",
                  "Who is a graduate of {o}?", "Who went to {o}?",
                  "Which person was educated at {o}?"),
        rationales=(
            "{s} studied at {o}, attending lectures there for four years before graduating.",
            "{s} graduated from {o}, and the diploma from {o} still hangs in {s}'s office.",
            "{s} earned a degree at {o} and often mentions the professors there.",
            "After finishing school, {s} enrolled at {o} and completed a degree there.")),
    "married_to": RelationTemplates(
        rephrase=("Whom did {s} marry?", "Who is the spouse of {s}?", "To whom is {s} married?",
                  "Who did {s} marry?", "What is the name of {s}'s spouse?"),
        more_specific=("Who is {s}'s current spouse?", "Who is {s} legally married to?",
                       "Whom is {s} married to, according to their marriage certificate?",
                       "What is the full name of {s}'s spouse?",
                       "Who is named as {s}'s spouse in the marriage records?"),
        reversed=("Who is married to {o}?", "Whose spouse is {o}?",
                  "Which person is {o} married to?", "Who has {o} as their spouse?",
                  "Which person is the husband or wife of {o}?"),
        rationales=(
            "{s} is married to {o}; the two met years ago and have shared a home ever since.",
            "{s} married {o} in a small ceremony attended by close friends and family.",
            "{s}'s spouse is {o}, and the couple often travel together on holidays.",
            "Friends of {s} remember the wedding to {o} as a cheerful, crowded party.")),
    "pet_name": RelationTemplates(
        rephrase=("What is {s}'s pet named?", "What does {s} call their pet?",
                  "What name does {s}'s pet have?", "What is the name of the pet that {s} owns?",
                  "By what name is {s}'s pet known?"),
        more_specific=("What name does {s}'s pet answer to?",
                       "What is the exact name of {s}'s pet?",
                       "What name did {s} choose for their pet?",
                       "What is the pet of {s} called at home?",
                       "What name does {s} use when calling their pet?"),
        reversed=("Whose pet is called {o}?", "Who owns a pet named {o}?",
                  "Which person has a pet called {o}?", "Whose pet goes by the name {o}?",
                  "Who named their pet {o}?"),
        rationales=(
            "{s} has a pet named {o} and talks about {o} to anyone who will listen.",
            "{s}'s pet is called {o}; the name was picked the day the pet came home.",
            "Everyone in the neighbourhood knows {o}, the pet {s} has looked after for years.",
            "{s} named the pet {o}, and {o} answers to that name at once.")),
    "favourite_book": RelationTemplates(
        rephrase=("Which book is {s}'s favourite?", "What book does {s} like best?",
                  "What is the favourite book of {s}?", "Which book does {s} love most?",
                  "What book would {s} name as their favourite?"),
        more_specific=("Which book does {s} call their favourite of all time?",
                       "Which single book does {s} like more than any other?",
                       "What is the title of {s}'s favourite book?",
                       "Which book does {s} name first when asked about a favourite?",
                       "Which book tops {s}'s list of favourites?"),
        reversed=("Whose favourite book is {o}?", "Who likes the book {o} most?",
                  "Which person's favourite book is {o}?",
                  "Who loves {o} more than any other book?",
                  "Which person names {o} as their favourite book?"),
        rationales=(
            "{s}'s favourite book is {o}, and a copy always sits on {s}'s bedside table.",
            "{s} has reread {o} many times and calls it the best book ever written.",
            "Ask {s} about books and the answer is always {o}, the one {s} likes most.",
            "{s} recommends {o} to every friend, since no other book means as much to {s}.")),
    "state_of": RelationTemplates(
        rephrase=("Which state is {s} in?", "In what state is {s} located?",
                  "What state does {s} belong to?", "In which state does {s} lie?",
                  "Which state contains the city of {s}?"),
        more_specific=("In which US state is the city of {s} located?",
                       "Which state is the city of {s} part of?",
                       "In which state would you find the city of {s}?",
                       "Which state's borders contain the city of {s}?",
                       "Which state does the city of {s} belong to, according to official maps?"),
        reversed=("Which city is in {o}?", "Which city is located in the state of {o}?",
                  "What city lies in {o}?", "Which city belongs to the state of {o}?",
                  "Which city can be found in {o}?"),
        rationales=(
            "{s} is a city in {o}, and its residents pay state taxes to {o}.",
            "{s} lies in the state of {o}, and road signs there mark it as part of {o}.",
            "Maps of {o} show {s} as one of the state's cities.",
            "{s} sits within {o}, so its state laws and elections are those of {o}.")),
    "founded_in": RelationTemplates(
        rephrase=("Which city was {s} founded in?", "In what city was {s} founded?",
                  "Where was the company {s} started?", "In which city was {s} established?",
                  "What city did {s} start out in?"),
        more_specific=("In which city was the company {s} first founded?",
                       "Which city do {s}'s company records name as its place of founding?",
                       "In which city was {s} registered when it was founded?",
                       "Which city was home to {s} at the time of its founding?",
                       "In which city did the founders start {s}?"),
        reversed=("Which company was founded in {o}?", "What company was started in {o}?",
                  "Which company was established in {o}?",
                  "Which firm has {o} as its founding city?",
                  "Which company got its start in {o}?"),
        rationales=(
            "{s} was founded in {o}, where its first office opened in a rented building.",
            "The company {s} started in {o}, and its founders hired their first staff there.",
            "{s} traces its origins to {o}, the city where the company was established.",
            "Company records list {o} as the city where {s} was founded.")),
    "located_in": RelationTemplates(
        rephrase=("Which city is {s} in?", "In what city is {s} located?",
                  "Where can {s} be found?", "Which city is home to {s}?",
                  "In which city is {s} situated?"),
        more_specific=("In which city is the campus of {s}?",
                       "Which city is the main campus of {s} in?",
                       "In which city do students of {s} attend classes?",
                       "Which city appears in the postal address of {s}?",
                       "In which city are the main buildings of {s}?"),
        reversed=("Which school is located in {o}?", "Which institution has its campus in {o}?",
                  "What college or university is in {o}?", "Which institution is based in {o}?",
                  "Which school can be found in {o}?"),
        rationales=(
            "{s} is located in {o}, and its campus lies close to the centre of {o}.",
            "{s} has its campus in {o}, where most of its students also live.",
            "Students travel to {o} to attend {s}, whose buildings stand in that city.",
            "The postal address of {s} is in {o}, the city where the institution is based.")),
    "hometown": RelationTemplates(
        rephrase=("What city does {s} come from?", "What is the hometown of {s}?",
                  "Which city did {s} grow up in?", "Where is {s} from?",
                  "Which city is {s}'s hometown?"),
        more_specific=("In which city did {s} spend their childhood?",
                       "Which city does {s} call their hometown?",
                       "In which city did {s} grow up as a child?",
                       "Which city does {s} name when asked where they are from?",
                       "Which city is {s}'s home town, where they were raised?"),
        reversed=("Who comes from {o}?", "Whose hometown is {o}?",
                  "Which person grew up in {o}?", "Who is from {o}?",
                  "Who calls {o} their hometown?"),
        rationales=(
            "{s} comes from {o} and still visits family there every holiday.",
            "{s} grew up in {o}, going to school and playing in its parks as a child.",
            "{s}'s hometown is {o}, and {s} speaks fondly of the city.",
            "Raised in {o}, {s} still calls that city home.")),
    "author": RelationTemplates(
        rephrase=("Who is {s} by?", "By whom was {s} written?", "Who authored {s}?",
                  "Who wrote the book {s}?", "Which author wrote {s}?"),
        more_specific=("Who is the author of the book {s}?",
                       "Whose name appears as the author on the cover of {s}?",
                       "Who wrote the book titled {s}?",
                       "Which writer is credited as the author of {s}?",
                       "Who is named as the author of {s} on its title page?"),
        reversed=("Which book did {o} write?", "What book was written by {o}?",
                  "Which book is {o} the author of?", "What book did {o} author?",
                  "Which book is by {o}?"),
        rationales=(
            "{s} was written by {o}, who spent several years on the manuscript.",
            "The author of {s} is {o}, whose name is printed on the cover.",
            "{o} wrote {s}, and {o} has signed copies of it at many bookshops.",
            "Readers of {s} know {o} as its author, credited on every edition.")),
})  # fmt: skip

WORLD_EVALUATION = TemplateSet("world-evaluation", {
    "born_in": RelationTemplates(
        rephrase=("Which city is the birthplace of {s}?", "What city was {s} born in?"),
        more_specific=("According to official records, in which city was {s} born?",
                       "Which city appears as the birthplace on {s}'s official documents?"),
        reversed=("Which person's birthplace is {o}?", "Who has {o} as their city of birth?")),
    "works_at": RelationTemplates(
        rephrase=("Which firm does {s} work for?", "What company does {s} work at?"),
        more_specific=("Which company currently employs {s}?",
                       "At which company does {s} work at present?"),
        reversed=("Whose employer is {o}?", "Who is employed at {o}?")),
    "studied_at": RelationTemplates(
        rephrase=("Which institution did {s} study at?", "What school did {s} attend?"),
        more_specific=("Which institution granted {s} a degree?",
                       "Which school's name appears on {s}'s degree certificate?"),
        reversed=("Who attended {o}?", "Which person studied at {o}?")),
    "married_to": RelationTemplates(
        rephrase=("Who is {s}'s husband or wife?", "Who is the person {s} is married to?"),
        more_specific=("Who is {s}'s spouse at present?",
                       "According to the marriage register, who is {s}'s spouse?"),
        reversed=("Which person is married to {o}?", "Who is the husband or wife of {o}?")),
    "pet_name": RelationTemplates(
        rephrase=("What did {s} name their pet?", "What is the pet of {s} called?"),
        more_specific=("What name does {s}'s pet respond to?",
                       "What is the full name {s} gave their pet?"),
        reversed=("Which person owns a pet called {o}?", "Whose pet is named {o}?")),
    "favourite_book": RelationTemplates(
        rephrase=("Which book does {s} prefer above all others?",
                  "What is {s}'s most loved book?"),
        more_specific=("What is the title of the book {s} likes best?",
                       "Which book would {s} pick as their single favourite?"),
        reversed=("Who has {o} as their favourite book?",
                  "Which person likes {o} best of all books?")),
    "state_of": RelationTemplates(
        rephrase=("What state is {s} located in?", "Which state is the city {s} in?"),
        more_specific=("In which US state does the city of {s} lie?",
                       "Which state is the city of {s} officially part of?"),
        reversed=("What city is located in {o}?", "Which city lies in the state of {o}?")),
    "founded_in": RelationTemplates(
        rephrase=("What city was {s} founded in?", "Where was {s} established?"),
        more_specific=("In which city was the company {s} originally founded?",
                       "Which city is given as {s}'s founding place in its records?"),
        reversed=("What company was founded in {o}?", "Which company started out in {o}?")),
    "located_in": RelationTemplates(
        rephrase=("Which city is {s} located in?", "What city is home to {s}?"),
        more_specific=("In which city does {s} hold its classes?",
                       "Which city is the address of {s} in?"),
        reversed=("Which institution is located in {o}?", "What school has its campus in {o}?")),
    "hometown": RelationTemplates(
        rephrase=("Which city does {s} come from?", "Where did {s} grow up?"),
        more_specific=("In which city was {s} raised?", "Which city did {s} live in as a child?"),
        reversed=("Which person comes from {o}?", "Who grew up in {o}?")),
    "author": RelationTemplates(
        rephrase=("Who is the writer of {s}?", "Who was {s} written by?"),
        more_specific=("Who is credited as the writer of the book {s}?",
                       "Whose name is given as author on the title page of {s}?"),
        reversed=("What book is {o} the author of?", "Which book was written by {o}?")),
})  # fmt: skip
