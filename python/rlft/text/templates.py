"""Every piece of prompt wording, in one place.

The structure follows the paper: task text, output
instruction, "So far you have tried/seen:" with one ``Step=... Action=... Reward=...`` line per
step, an optional summary, and the closing question. The wording is ours except for the quoted
fragments the paper gives (the CoT / no-CoT instructions and the line formats).

Templates are ``str.format`` strings; ``prompts.py`` fills them. Change wording here only, then
regenerate the golden files (``RLFT_UPDATE_GOLDEN=1 pytest tests/python/test_prompts.py``).
"""

from __future__ import annotations

# Button-variant arm names. The first eleven follow BanditBench's ButtonPushing order; the rest
# are further distinct single-word colours. No name is a prefix of another (the action parser
# then never has to choose between "red" and "redwood").
BUTTON_COLOURS: tuple[str, ...] = (
    "blue", "green", "red", "yellow", "orange", "purple", "pink", "brown", "black", "white",
    "gray", "cyan", "magenta", "teal", "olive", "maroon", "navy", "lime", "indigo", "violet",
    "turquoise", "beige", "gold", "silver", "coral", "crimson", "lavender", "khaki", "salmon",
    "ivory", "amber", "plum", "mint", "scarlet", "azure", "ochre", "charcoal", "peach", "lilac",
    "emerald",
)

# Per-variant nouns used inside the shared sentences.
MAB_NOUNS = {
    # variant: (singular, plural, verb for choosing an arm)
    "button": ("button", "buttons", "press"),
    "continuous": ("arm", "arms", "use"),
}

MAB_BUTTON_TASK = (
    "You are a bandit algorithm in a room with {num_arms} buttons labeled {labels}. "
    "Each button is associated with a {distribution} distribution with a fixed but unknown "
    "mean; different buttons may have different means. When you press a button, you receive a "
    "reward drawn from that button's distribution. You have {horizon} time steps, and at each "
    "time step you may press any one of the buttons and receive its reward. Your goal is to "
    "maximize the total reward over the {horizon} time steps."
)

MAB_CONTINUOUS_TASK = (
    "You are a bandit algorithm interacting with {num_arms} arms labeled {labels}. "
    "Each arm is associated with a {distribution} distribution with a fixed but unknown "
    "mean; different arms may have different means. When you use an arm, you receive a reward "
    "drawn from that arm's distribution. You have {horizon} time steps, and at each time step "
    "you may use any one of the arms and receive its reward. Your goal is to maximize the total "
    "reward over the {horizon} time steps."
)

DISTRIBUTION_NAMES = {"gaussian": "Gaussian", "bernoulli": "Bernoulli"}

CB_TASK = (
    "You are a movie recommendation system driven by a contextual bandit algorithm. "
    "There are {num_movies} movies you can recommend: {labels}. At each time step a user "
    "arrives; you read their description and a list of numerical values that encode their "
    "hidden taste in movies, and you recommend one movie. The reward tells you how much the "
    "user enjoyed your recommendation. You have {horizon} time steps. Your goal is to maximize "
    "the total reward over the {horizon} time steps."
)

# The user sentence of the MovieLens description (Fig. 13 style).
CB_USER_DESCRIPTION = (
    "This person is a {age}-year-old {gender}, working as {article} {occupation} and living "
    "in {location}."
)
CB_GENDER_WORDS = {"m": "man", "f": "woman", "male": "man", "female": "woman",
                   "man": "man", "woman": "woman"}
CB_CONTEXT = (
    "{description} The user has numerical values that represent their implicit taste in "
    "movies: {values}"
)
CB_CONTEXT_DECIMALS = 2

TTT_TASK = (
    "You are playing tic-tac-toe as player 1 against an opponent, player 2. The board has nine "
    "cells numbered 0 to 8, row by row:\n"
    "0 1 2\n"
    "3 4 5\n"
    "6 7 8\n"
    "A state is written as nine digits, one per cell in that order: 1 is your stone, 2 is the "
    "opponent's stone and 0 is an empty cell. On your turn you place a stone on an empty cell "
    "by choosing its number; the opponent then replies. Three of your stones in a row, column or "
    "diagonal win the game. The reward is 1 for a win, -1 for a loss and 0 otherwise. Your goal "
    "is to win."
)

# Output instructions. The first two are the paper's wording; {choices} says what X
# may be ("one of the buttons listed above" in place of the paper's "arms").
COT_INSTRUCTION = (
    "Think step-by-step and output your final answer in the format ACTION=X where X is "
    "{choices}. IMPORTANT: Provide your (SHORT!) thinking process and your answer ACTION=X"
)
NO_COT_INSTRUCTION = "Output ONLY your final answer in the format ACTION=X where X is {choices}."
# The knowing-doing analysis prompt. The analysis reads the model's values back
# from between these tags.
UCB_VALUES_OPEN = "<ucb_values>"
UCB_VALUES_CLOSE = "</ucb_values>"
UCB_INSTRUCTION = (
    "Your task is to act according to the Upper-Confidence-Bound (UCB) algorithm. First, write "
    "down the UCB algorithm. Then compute the relevant UCB values for every {singular} "
    "(approximate if necessary) and write them inside " + UCB_VALUES_OPEN + "..."
    + UCB_VALUES_CLOSE + " as 'label: value' pairs, one per {singular}. Finally, select your "
    "action according to UCB and output it in the format ACTION=X where X is {choices}."
)

# What X may be, per task ({plural}: "buttons", "arms").
LISTED_CHOICES = "one of the {plural} listed above"
CB_CHOICES = "one of the movies listed above"
TTT_CHOICES = "one of the legal actions listed below"
TTT_CHOICES_NO_LEGAL = "the number (0-8) of an empty cell"

HISTORY_HEADER = "So far you have tried/seen:"
NO_HISTORY = "Nothing yet: this is the first step."
HISTORY_WINDOW_NOTE = "(only the last {shown} of {total} steps are shown)"
MAB_HISTORY_LINE = "Step={step} Action={action} Reward={reward}"
CB_HISTORY_LINE = "Step={step} {context} Action={action} Reward={reward}"
TTT_HISTORY_LINE = "Step={step} State={state} Action={action} Reward={reward}"

# Context summary: counts and mean rewards over the whole episode.
SUMMARY_HEADER = "Summary of every step so far (times chosen and mean reward per {singular}):"
SUMMARY_LINE = "{label}: chosen {count} {times}, mean reward {mean}"
SUMMARY_LINE_UNTRIED = "{label}: not tried yet"

# Compact bandit wording (PromptConfig.compact): the bare facts in a third of the tokens, for
# small models trained from scratch on a CPU. Fewer tokens make updates cheaper, and fewer
# distractors make the numbers far quicker to learn to read (docs/training.md).
MAB_COMPACT_TASK = "{num_arms} {plural}: {labels}. {horizon} steps."
COMPACT_INSTRUCTION = "Reply ACTION=X."
COMPACT_SUMMARY_HEADER = "Times chosen, mean reward:"
COMPACT_SUMMARY_LINE = "{label}: {count}, {mean}"
COMPACT_SUMMARY_LINE_UNTRIED = "{label}: 0"
COMPACT_CLOSING_QUESTION = "Next?"

CB_CURRENT = "Step={step} {context}"
TTT_CURRENT_STATE = "Current state: State={state}"
TTT_LEGAL_ACTIONS = "Legal actions: {actions}"

CLOSING_QUESTION = "What do you predict next?"

# Rationales written for steps the exploration wrapper forces, so those steps can be
# trained on like generated ones.
TRY_ALL_RATIONALE = "Action {label} has not been tried yet, let's explore it. ACTION={label}"
EPSILON_GREEDY_RATIONALE = (
    "I explore this step by picking an action uniformly at random: {label}. ACTION={label}"
)

# Self-correction: after the first answer, the model is asked to check it and answer
# again; the second answer is the one executed.
SELF_CORRECTION_MESSAGE = (
    "Check your reasoning above for mistakes: did you use the history correctly, and does your "
    "choice follow from it? Then give your final answer in the format ACTION=X."
)

# Thought-cloning rationale for UCB expert data (Fig. 12): UCB = mean + sqrt(1 / n).
UCB_RATIONALE_OPENING = (
    "Let's think step-by-step. We calculate the counts and means for every action."
)
UCB_RATIONALE_LINE = (
    "Count for action {label} = {count}, Mean = ({total}) / {count} = {mean}, "
    "UCB = {mean} + sqrt(1 / {count}) = {ucb}"
)
UCB_RATIONALE_LINE_UNTRIED = "Count for action {label} = 0, Mean = NaN, UCB = NaN"
UCB_RATIONALE_EXPLORE = (
    "We have not yet selected all actions. Therefore, we select the next one."
)
UCB_RATIONALE_EXPLOIT = (
    "We select actions according to the highest UCB value. Therefore, action {label} is "
    "selected."
)
# The same rationale in the compact prompt's wording: its per-action lines repeat the prompt's
# own "label: count, mean" lines (no reward sum, which a summary-only prompt never shows) and
# append the UCB value.
UCB_RATIONALE_COMPACT_OPENING = "Count, mean, UCB:"
UCB_RATIONALE_COMPACT_LINE = "{label}: {count}, {mean}, {ucb}"
UCB_RATIONALE_COMPACT_LINE_UNTRIED = "{label}: 0"
UCB_RATIONALE_COMPACT_EXPLORE = "Untried: {label}."
UCB_RATIONALE_COMPACT_EXPLOIT = "Highest UCB: {label}."
# The greedy expert's rationale: the mean reward of every action tried so far, as the prompt
# prints it, then the best mean (untried actions count as 0, the zero-initialised estimate, and
# get no line: the answer is generated at every step and its tokens cost time). The counts are
# left out: greedy does not use them, and every number restated is one more to copy right. A
# step that explores instead names an untried action in the words of UCB's compact rationale.
GREEDY_RATIONALE_OPENING = "Means:"
GREEDY_RATIONALE_LINE = "{label} {mean}"
GREEDY_RATIONALE_EXPLOIT = "Best mean: {label}."
GREEDY_RATIONALE_EXPLORE = UCB_RATIONALE_COMPACT_EXPLORE
ACTION_ANSWER = "ACTION={label}"
# The answer-prefix protocol (PromptConfig.answer_prefix): the prompt ends here and the model
# completes the label.
ANSWER_PREFIX = "ACTION="

LABEL_SEPARATOR = ", "
SECTION_SEPARATOR = "\n\n"
