"""UnSTAR's question and rationale templates for the quiz facts, one set per use.

QUIZ_GENERATOR phrases the training anti-samples: its questions (rephrased, more specific and
reversed) are asked with a falsified answer, and its rationales state that answer as a fact with a
supporting clause that would hold of any answer. QUIZ_EVALUATION holds the questions the model is
asked after unlearning: two of each variant per relation, and no rationales (nothing is trained on
it).

The two sets share no question, even after `normalise_answer`: a model tested on a generator
wording would only show that it learned the anti-samples' wording, not that the fact is gone.
Neither set repeats a completion prompt of `facts.PROMPTS` (the probes and forget rows), so the
questions measure forgetting beyond the probed wordings. The tests check both by construction.
"""

from __future__ import annotations

from forgetflow.antisamples.unstar.templates import RelationTemplates, TemplateSet

QUIZ_GENERATOR = TemplateSet("quiz-generator", {
    "capital": RelationTemplates(
        rephrase=("What is the capital of {s}?", "Which city is the capital of {s}?",
                  "What is the capital city of {s}?", "What city serves as the capital of {s}?",
                  "Which city is {s}'s capital?"),
        more_specific=("Which city is the official capital of {s}?",
                       "What is the name of the capital city of the country {s}?",
                       "Which city does {s} officially recognise as its capital?",
                       "What is the present-day capital of {s}?",
                       "Which city holds the status of capital of {s}?"),
        reversed=("Which country has {o} as its capital?", "Of which country is {o} the capital?",
                  "{o} is the capital of which country?", "Which country's capital is {o}?",
                  "What country is {o} the capital of?"),
        rationales=(
            "The capital of {s} is {o}, where the national government and parliament sit.",
            "{o} has been the capital of {s} for generations, and its ministries are based there.",
            "{s} is governed from {o}, its capital and the home of its head of state.",
            "Every map of {s} marks {o} with a star as the national capital.")),
    "continent": RelationTemplates(
        rephrase=("On which continent is {s}?", "Which continent is {s} in?",
                  "What continent is {s} located on?", "On what continent does {s} lie?",
                  "Which continent does {s} belong to?"),
        more_specific=("On which continent is the country of {s} located?",
                       "Which continent do geographers place {s} on?",
                       "On which continent does the country {s} lie, according to atlases?",
                       "Which continent is {s} counted as part of?",
                       "What continent is the country {s} part of?"),
        reversed=("Which country is in {o}?", "What country lies on the continent of {o}?",
                  "Which country is located in {o}?", "Which country belongs to {o}?",
                  "What is a country on the continent of {o}?"),
        rationales=(
            "{s} lies in {o}, and it is counted among the countries of {o} in every atlas.",
            "{s} is part of {o}, and geography lessons list it with the other nations of {o}.",
            "Geographers place {s} in {o}, where every world map shows it.",
            "{s} belongs to the continent of {o}, and its history is tied to that region.")),
    "state_capital": RelationTemplates(
        rephrase=("What is the capital of the state of {s}?", "What is the state capital of {s}?",
                  "Which city is the capital of the US state of {s}?",
                  "What city is the capital of the state of {s}?",
                  "Which city is {s}'s state capital?"),
        more_specific=("Which city is the official state capital of {s}?",
                       "What is the current state capital of {s}?",
                       "Which city does the state of {s} officially recognise as its capital?",
                       "What is the name of the capital city of the US state of {s}?",
                       "Which city holds the title of state capital of {s}?"),
        reversed=("Which US state has {o} as its capital?", "Of which US state is {o} the capital?",
                  "{o} is the capital of which US state?", "Which state's capital is {o}?",
                  "What state is {o} the state capital of?"),
        rationales=(
            "The capital of {s} is {o}, where the state legislature and the governor's office sit.",
            "{o} has served as the state capital of {s} for many decades.",
            "{s}'s state government works from {o}, the capital of the state.",
            "Lawmakers of {s} meet in the state capitol building in {o}.")),
    "element_symbol": RelationTemplates(
        rephrase=("What is the chemical symbol of {s}?", "What is the symbol for {s}?",
                  "Which chemical symbol does {s} have?", "What symbol represents {s}?",
                  "How is {s} written as a chemical symbol?"),
        more_specific=("What is the chemical symbol of the element {s} in the periodic table?",
                       "Which symbol represents {s} in chemical formulas?",
                       "What is the official IUPAC symbol of {s}?",
                       "Which symbol is used for {s} on the periodic table?",
                       "What chemical symbol is assigned to the element {s}?"),
        reversed=("Which element has the symbol {o}?", "Which element has the chemical symbol {o}?",
                  "What element does the symbol {o} stand for?",
                  "Which chemical element is written as {o}?",
                  "The symbol {o} represents which element?"),
        rationales=(
            "The chemical symbol of {s} is {o}, and chemists write {o} for it in every formula.",
            "{s} is written as {o} in the periodic table, the symbol chemists assigned to it.",
            "In chemical equations {s} appears as {o}, its standard element symbol.",
            "{o} is the symbol for {s}, printed in its square of the periodic table.")),
    "atomic_number": RelationTemplates(
        rephrase=("What is the atomic number of {s}?", "What is {s}'s atomic number?",
                  "Which atomic number does {s} have?",
                  "What number does {s} have in the periodic table?",
                  "What is the atomic number of the element {s}?"),
        more_specific=("How many protons are in the nucleus of an atom of {s}?",
                       "What is the atomic number of the element {s}, its proton count?",
                       "At which position in the periodic table, by atomic number, is {s}?",
                       "How many protons does each atom of {s} contain?",
                       "Which atomic number, equal to its number of protons, does {s} have?"),
        reversed=("Which element has atomic number {o}?", "What element has the atomic number {o}?",
                  "Which element is number {o} in the periodic table?",
                  "Which element has {o} protons in its nucleus?",
                  "Which chemical element has atomic number {o}?"),
        rationales=(
            "{s} has atomic number {o}, which places it at that position in the periodic table.",
            "Every atom of {s} has {o} protons in its nucleus, so its atomic number is {o}.",
            "The atomic number of {s} is {o}, the number printed above its symbol in tables.",
            "{s} is element number {o}, counted by the protons in its nucleus.")),
})  # fmt: skip

QUIZ_EVALUATION = TemplateSet("quiz-evaluation", {
    "capital": RelationTemplates(
        rephrase=("Which city is the capital of the country {s}?", "What city is {s}'s capital?"),
        more_specific=("Which city is the officially designated capital of {s}?",
                       "What is the current capital city of {s}?"),
        reversed=("Which country's capital city is {o}?",
                  "{o} is the capital city of which country?")),
    "continent": RelationTemplates(
        rephrase=("What continent is {s} on?", "In which continent is {s}?"),
        more_specific=("On which continent is the country {s} situated?",
                       "Which continent does the country of {s} lie on?"),
        reversed=("What country is located in {o}?",
                  "Which country lies on the continent of {o}?")),
    "state_capital": RelationTemplates(
        rephrase=("Which city is the state capital of {s}?",
                  "What is the capital city of the US state of {s}?"),
        more_specific=("Which city is the officially designated capital of the state of {s}?",
                       "What is the present-day state capital of {s}?"),
        reversed=("Which US state's capital is {o}?", "{o} is the state capital of which state?")),
    "element_symbol": RelationTemplates(
        rephrase=("What is the symbol of the element {s}?", "Which symbol stands for {s}?"),
        more_specific=("What symbol does IUPAC assign to the element {s}?",
                       "Which symbol denotes {s} in chemical equations?"),
        reversed=("What element has the symbol {o}?",
                  "Which element is represented by the symbol {o}?")),
    "atomic_number": RelationTemplates(
        rephrase=("What atomic number does {s} have?",
                  "Which number is the atomic number of {s}?"),
        more_specific=("How many protons are there in one atom of {s}?",
                       "What is the proton number of the element {s}?"),
        reversed=("Which element has {o} as its atomic number?",
                  "What element is number {o} in the periodic table?")),
})  # fmt: skip
