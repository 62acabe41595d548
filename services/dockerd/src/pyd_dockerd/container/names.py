"""Container ids and names (moby's pkg/stringid, daemon/names and namesgenerator).

A name is reserved by the unique `containers.name` column in dockerd's database:
inserting the container row *is* the reservation, so two creates racing for one
name cannot both win, and a name stays taken across daemon restarts.
"""

from __future__ import annotations

import re
import secrets

from pyd_proto.errdefs import InvalidArgument

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
VALID_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

# A subset of moby's namesgenerator lists: adjectives and notable scientists/hackers.
LEFT = (
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome",
    "beautiful", "blissful", "bold", "brave", "busy", "charming", "clever", "compassionate",
    "competent", "condescending", "confident", "cool", "cranky", "crazy", "dazzling",
    "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated",
    "elegant", "eloquent", "epic", "exciting", "fervent", "festive", "flamboyant", "focused",
    "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "great",
    "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring",
    "intelligent", "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving",
    "lucid", "magical", "modest", "musing", "mystifying", "naughty", "nervous", "nice",
    "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive",
    "practical", "priceless", "quirky", "quizzical", "recursing", "relaxed", "reverent",
    "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "stupefied",
    "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant",
    "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous",
    "zen",
)
RIGHT = (
    "agnesi", "albattani", "allen", "archimedes", "ardinghelli", "aryabhata", "austin",
    "babbage", "banach", "bardeen", "bartik", "bassi", "bell", "benz", "bhabha", "black",
    "blackburn", "blackwell", "bohr", "booth", "borg", "bose", "bouman", "boyd", "brahmagupta",
    "brattain", "brown", "buck", "burnell", "cannon", "carson", "cartwright", "cerf",
    "chandrasekhar", "chaplygin", "chatelet", "chatterjee", "chaum", "clarke", "colden",
    "cori", "cray", "curie", "darwin", "davinci", "dijkstra", "dubinsky", "easley", "edison",
    "einstein", "elion", "engelbart", "euclid", "euler", "faraday", "feistel", "fermat",
    "fermi", "feynman", "franklin", "gagarin", "galileo", "gates", "gauss", "germain",
    "goldberg", "goldstine", "goldwasser", "golick", "goodall", "gould", "greider",
    "grothendieck", "haibt", "hamilton", "haslett", "hawking", "heisenberg", "hellman",
    "hermann", "herschel", "hertz", "heyrovsky", "hodgkin", "hofstadter", "hoover", "hopper",
    "hugle", "hypatia", "jackson", "jang", "jennings", "jepsen", "johnson", "joliot", "jones",
    "kalam", "kapitsa", "kare", "keldysh", "keller", "kepler", "khayyam", "khorana",
    "kilby", "kirch", "knuth", "kowalevski", "lalande", "lamarr", "lamport", "leakey",
    "leavitt", "lederberg", "lehmann", "lewin", "lichterman", "liskov", "lovelace",
    "lumiere", "mahavira", "margulis", "matsumoto", "maxwell", "mayer", "mccarthy",
    "mcclintock", "mclaren", "mclean", "mcnulty", "meitner", "mendel", "mendeleev",
    "merkle", "mestorf", "mirzakhani", "montalcini", "moore", "morse", "moser", "murdock",
    "napier", "nash", "neumann", "newton", "nightingale", "nobel", "noether", "northcutt",
    "noyce", "panini", "pare", "pascal", "pasteur", "payne", "perlman", "pike", "poincare",
    "poitras", "proskuriakova", "ptolemy", "raman", "ramanujan", "rhodes", "ride", "ritchie",
    "robinson", "roentgen", "rosalind", "rubin", "saha", "sammet", "sanderson", "satoshi",
    "shamir", "shannon", "shaw", "shirley", "shockley", "shtern", "sinoussi", "snyder",
    "solomon", "spence", "stonebraker", "sutherland", "swanson", "swartz", "swirles",
    "taussig", "tesla", "tharp", "thompson", "torvalds", "tu", "turing", "varahamihira",
    "vaughan", "villani", "visvesvaraya", "volhard", "wescoff", "wilbur", "wiles",
    "williams", "williamson", "wilson", "wing", "wozniak", "wright", "wu", "yalow", "yonath",
    "zhukovsky",
)


def generate_id() -> str:
    """A 64-hex container id that is not all digits (so it never reads as a number),
    as moby's stringid.GenerateRandomID."""
    while True:
        value = secrets.token_hex(32)
        if not value[:12].isdigit():
            return value


def is_full_id(value: str) -> bool:
    return bool(_HEX64.match(value))


def short_id(value: str) -> str:
    return value[:12]


def random_name(retry: int = 0) -> str:
    """adjective_surname; after a collision a digit is appended (moby's GetRandomName)."""
    while True:
        name = f"{secrets.choice(LEFT)}_{secrets.choice(RIGHT)}"
        if name == "boring_wozniak":  # Steve Wozniak is not boring (moby's rule)
            continue
        if retry > 0:
            name += str(secrets.randbelow(10))
        return name


def validate_name(name: str) -> str:
    """The name without its leading '/', or InvalidArgument with Docker's message."""
    if not VALID_NAME.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only {VALID_NAME_CHARS} are allowed")
    return name.removeprefix("/")
