"""Amazon Personalize filter expressions: tokenizer, recursive-descent parser and validation.

Grammar (the developer guide publishes an element list and examples, no formal grammar; this is
the reconstruction in ``personalize_api.md`` §4.1)::

    filter       := expression ( "|" expression )*
    expression   := ("INCLUDE" | "EXCLUDE") target "WHERE" conditions [ if_clause ]
    target       := "ItemID" | "UserID" | "ActionID"
    conditions   := and_group ( "OR" and_group )*
    and_group    := condition ( "AND" condition )*
    condition    := field ( "IN" | "NOT" "IN" ) "(" value ( "," value )* ")"
                  | field "IN" "CurrentItem." FIELD          ; also "IN (CurrentItem.FIELD)"
                  | field cmp operand
    field        := dataset "." FIELD
    dataset      := "Items" | "Users" | "Interactions" | "Actions" | "Action_Interactions"
    cmp          := "=" | "!=" | "<" | "<=" | ">" | ">="
    operand      := number | "$"PARAM | "(" "$"PARAM ")" | "CurrentItem." FIELD
    value        := "\\"" string "\\"" | "$"PARAM | "*"
    if_clause    := "IF" user_cond ( "AND" user_cond )*
    user_cond    := "CurrentUser." FIELD ( cmp operand | ("IN" | "NOT" "IN") "(" value ("," value)* ")" )

Decisions the guide leaves open, and what they rest on:

* **AND binds tighter than OR** (``a OR b AND c`` is ``a OR (b AND c)``), as in SQL, whose keywords
  the language borrows.  The guide never shows both in one expression.
* **No grouping parentheses.**  Parentheses only enclose value lists and ``($PARAM)``: the element
  list has no grouping element and no example groups conditions.  ``(`` where a condition is
  expected is an error that says so.
* Keywords, targets (``ItemID``, ``UserId``...), ``CurrentItem`` / ``CurrentUser`` and dataset
  names are case-insensitive (the guide writes both ``UserID`` and ``UserId``).  Field names are
  upper-cased: schema field names are matched case-insensitively everywhere else in picks.
  ``dataset.FIELD`` is one word: no spaces around the dot.
* ``Action.FIELD`` is read as ``Actions.FIELD``: the guide's action examples write
  ``Action.MEMBERSHIP_LEVEL``, and no other dataset is called ``Action``, so the reading is
  unambiguous.
* Targets and datasets: ``ItemID`` with Items or Interactions, ``ActionID`` with Actions or
  Action_Interactions, ``UserID`` (user segments) with Users or Interactions (the guide's user
  segment examples filter on ``Interactions.EVENT_TYPE``).  Every ``|`` expression of one filter
  must name the same target.
* "Conditions chained together using AND or OR can only affect fields of the dataset used in the
  first condition": every WHERE condition uses one dataset.  Items with Interactions (and Actions
  with Action_Interactions) get the guide's own advice: chain them with ``|``.
* Interactions and Action_Interactions: only ``EVENT_TYPE``, only with IN / NOT IN.  ``*`` ("all
  event types") is accepted only in an EVENT_TYPE value list, of either interactions dataset.
* Placeholders can't follow NOT IN ("use the IN operator and the opposite action"), nor can
  ``CurrentItem`` (the grammar only shows ``IN CurrentItem.FIELD``).  ``CurrentItem`` only appears
  in ItemID expressions on the Items dataset; ``CurrentUser`` only in the IF clause, which comes
  once, at the end, joined with AND only, and not in UserID (user segment) expressions, which have
  no current user.
* Comparisons take a number, ``$PARAM`` or ``CurrentItem.FIELD`` ("test numerical data"); a quoted
  string after a comparison is an error.  Value lists take double-quoted strings (``\\"`` and
  ``\\\\`` escape a quote and a backslash), ``$PARAM`` or ``*``; a bare number in a value list is
  an error that suggests quoting it.  The expression is 1 to 2500 characters (the service model).

Every error is an ``InvalidInputException`` whose message reads
``filterExpression: at position N: <what was expected>, found '<token>'``, N being the 1-based
character position in the expression.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from picks.errors import InvalidInputException, excerpt

if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_EXPRESSION_LENGTH = 2500  # botocore: FilterExpression min 1, max 2500
MAX_PARAMETER_NAME_LENGTH = 50  # botocore: FilterValues key max 50, pattern [A-Za-z0-9_]+

INCLUDE = "INCLUDE"
EXCLUDE = "EXCLUDE"
CURRENT_ITEM = "CurrentItem"
CURRENT_USER = "CurrentUser"
EVENT_TYPE = "EVENT_TYPE"
ANY_EVENT_TYPE = "*"

# Dataset types (as DATASET_TYPES spells them) by the lower-cased name an expression may use.
DATASET_NAMES = {
    "items": "ITEMS",
    "users": "USERS",
    "interactions": "INTERACTIONS",
    "actions": "ACTIONS",
    "action": "ACTIONS",  # the guide's action examples write "Action.FIELD"
    "action_interactions": "ACTION_INTERACTIONS",
}
DISPLAY_NAMES = {
    "ITEMS": "Items",
    "USERS": "Users",
    "INTERACTIONS": "Interactions",
    "ACTIONS": "Actions",
    "ACTION_INTERACTIONS": "Action_Interactions",
}
INTERACTION_DATASETS = frozenset({"INTERACTIONS", "ACTION_INTERACTIONS"})
TARGETS = {"itemid": "ItemID", "userid": "UserID", "actionid": "ActionID"}
# Datasets an expression's WHERE conditions may use, per target.
TARGET_DATASETS = {
    "ItemID": ("ITEMS", "INTERACTIONS"),
    "UserID": ("USERS", "INTERACTIONS"),
    "ActionID": ("ACTIONS", "ACTION_INTERACTIONS"),
}
# The entity dataset a target's rows come from (the catalog the engine evaluates over).
TARGET_ENTITY = {"ItemID": "ITEMS", "UserID": "USERS", "ActionID": "ACTIONS"}
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class FieldRef:
    """``Items.PRICE``: ``dataset`` is the dataset type (``ITEMS``), ``name`` the upper-cased field."""

    dataset: str
    name: str
    position: int
    text: str

    def __str__(self) -> str:
        return f"{DISPLAY_NAMES[self.dataset]}.{self.name}"


@dataclass(frozen=True)
class CurrentRef:
    """``CurrentItem.GENRE`` / ``CurrentUser.AGE``."""

    scope: str  # CURRENT_ITEM | CURRENT_USER
    name: str
    position: int
    text: str

    @property
    def dataset(self) -> str:
        return "ITEMS" if self.scope == CURRENT_ITEM else "USERS"

    def __str__(self) -> str:
        return f"{self.scope}.{self.name}"


@dataclass(frozen=True)
class StringValue:
    value: str
    position: int


@dataclass(frozen=True)
class NumberValue:
    value: float
    text: str
    position: int


@dataclass(frozen=True)
class Param:
    name: str
    position: int

    def __str__(self) -> str:
        return f"${self.name}"


@dataclass(frozen=True)
class AnyValue:
    """``*`` in an EVENT_TYPE value list: every event type."""

    position: int


ListValue = StringValue | Param | AnyValue
Operand = NumberValue | Param | CurrentRef
Subject = FieldRef | CurrentRef


@dataclass(frozen=True)
class Membership:
    """``subject IN (values)`` / ``subject NOT IN (values)`` / ``subject IN CurrentItem.FIELD``."""

    subject: Subject
    negated: bool
    values: tuple[ListValue, ...]
    current: CurrentRef | None  # IN CurrentItem.FIELD (then ``values`` is empty)
    position: int


@dataclass(frozen=True)
class Comparison:
    subject: Subject
    op: str
    operand: Operand
    position: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # "AND" | "OR"
    parts: tuple[Node, ...]


Condition = Membership | Comparison
Node = Membership | Comparison | BoolOp


@dataclass(frozen=True)
class Clause:
    """One ``|``-separated expression."""

    action: str  # INCLUDE | EXCLUDE
    target: str  # ItemID | UserID | ActionID
    dataset: str  # dataset type of every WHERE condition
    where: Node
    if_conditions: tuple[Condition, ...]  # CurrentUser conditions, all must hold; () when no IF
    position: int
    text: str
    parameters: frozenset[str]

    @property
    def include(self) -> bool:
        return self.action == INCLUDE


@dataclass(frozen=True)
class FilterExpression:
    text: str
    clauses: tuple[Clause, ...]
    target: str
    parameters: frozenset[str]
    fields: frozenset[tuple[str, str]]  # (dataset type, FIELD); CurrentItem/CurrentUser as ITEMS/USERS
    uses_current_item: bool
    uses_current_user: bool
    interaction_event_types: frozenset[str]  # literal EVENT_TYPE values, lower-cased, or "*"


def conditions(node: Node) -> Iterator[Condition]:
    """The leaf conditions of a WHERE tree, left to right."""
    if isinstance(node, BoolOp):
        for part in node.parts:
            yield from conditions(part)
    else:
        yield node


def operands(condition: Condition) -> Iterator[object]:
    """Everything a condition refers to besides its subject."""
    if isinstance(condition, Membership):
        yield from condition.values
        if condition.current is not None:
            yield condition.current
    else:
        yield condition.operand


# --------------------------------------------------------------------------- tokens

_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# ASCII only, as _NUMBER and _WORD: str.isdigit()/isalpha() also accept '٣' or 'É', which neither matches.
_DIGITS = frozenset("0123456789")
_WORD_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_PARAM_NAME = re.compile(r"[A-Za-z0-9_]+")
_SINGLE = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA", "|": "PIPE", "*": "STAR", ".": "DOT"}
_CURLY_QUOTES = "\u201c\u201d\u2018\u2019"


@dataclass(frozen=True)
class Token:
    kind: str  # WORD NUMBER STRING PARAM OP LPAREN RPAREN COMMA PIPE STAR DOT END
    text: str  # as written
    value: object  # decoded string, float, parameter name, operator
    position: int  # 1-based

    def keyword(self, *words: str) -> bool:
        return self.kind == "WORD" and self.text.upper() in words

    def shown(self) -> str:
        if self.kind == "END":
            return "the end of the expression"
        return f"'{excerpt(self.text, 40)}'"


def _error(position: int, message: str) -> InvalidInputException:
    return InvalidInputException(f"filterExpression: at position {position}: {message}")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        token, i = _next_token(text, i)
        tokens.append(token)
    tokens.append(Token("END", "", None, n + 1))
    return tokens


def _next_token(text: str, i: int) -> tuple[Token, int]:
    """The token starting at ``text[i]`` (not a space) and the index just past it."""
    char = text[i]
    if char == '"':
        return _string_token(text, i)
    if char == "$":
        return _parameter_token(text, i)
    if char in "<>=!":
        return _operator_token(text, i)
    if _starts_number(text, i):
        return _number_token(text, i)
    if char in _WORD_START:
        match = _WORD.match(text, i)
        assert match is not None
        return Token("WORD", match.group(), match.group(), i + 1), match.end()
    if char in _SINGLE:
        return Token(_SINGLE[char], char, char, i + 1), i + 1
    raise _unexpected_character(char, i + 1)


def _string_token(text: str, i: int) -> tuple[Token, int]:
    value, end = _read_string(text, i)
    return Token("STRING", text[i:end], value, i + 1), end


def _parameter_token(text: str, i: int) -> tuple[Token, int]:
    position = i + 1
    match = _PARAM_NAME.match(text, i + 1)
    if match is None:
        raise _error(position, "expected a parameter name ([A-Za-z0-9_]+) after '$'")
    name = match.group()
    if len(name) > MAX_PARAMETER_NAME_LENGTH:
        raise _error(
            position,
            f"parameter name '{name[:20]}...' is longer than {MAX_PARAMETER_NAME_LENGTH} "
            "characters (filterValues keys are at most 50)",
        )
    return Token("PARAM", "$" + name, name, position), match.end()


def _operator_token(text: str, i: int) -> tuple[Token, int]:
    position = i + 1
    char, two = text[i], text[i : i + 2]
    if two in ("<=", ">=", "!="):
        return Token("OP", two, two, position), i + 2
    if char == "!":
        raise _error(position, "expected '!=' (the only operator starting with '!'), found '!'")
    if two == "<>":
        raise _error(position, "found '<>'; write '!=' for 'not equal'")
    if two == "==":
        raise _error(position, "found '=='; write '=' for 'equal'")
    return Token("OP", char, char, position), i + 1


def _starts_number(text: str, i: int) -> bool:
    """A digit, or a sign or point followed by a digit or point ('-1', '.5', '-.5')."""
    char = text[i]
    if char in _DIGITS:
        return True
    following = text[i + 1 : i + 2]
    return char in "-." and (following in _DIGITS or following == ".")


def _number_token(text: str, i: int) -> tuple[Token, int]:
    position = i + 1
    match = _NUMBER.match(text, i)
    if match is None:
        raise _error(position, f"expected a number, found {text[i : i + 10]!r}")
    end = match.end()
    if end < len(text) and (text[end].isalpha() or text[end] == "_"):
        word = _WORD.match(text, end)
        bad = text[i : word.end() if word else end + 1]
        raise _error(position, f"'{bad}' is neither a number nor a name")
    return Token("NUMBER", match.group(), float(match.group()), position), end


def _unexpected_character(char: str, position: int) -> InvalidInputException:
    if char in _CURLY_QUOTES:
        return _error(position, f"unexpected character '{char}'; quote values with plain double quotes (\")")
    if char == "'":
        return _error(position, 'unexpected single quote; quote values with double quotes (")')
    return _error(position, f"unexpected character {char!r}")


def _read_string(text: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])  # \" -> ", \\ -> \, any other \x -> x
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise _error(start + 1, 'unterminated string: expected a closing double quote (")')


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.target_position = 1

    # -- token helpers

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "END":
            self.index += 1
        return token

    def fail(self, expected: str, token: Token | None = None) -> InvalidInputException:
        token = token or self.token
        return _error(token.position, f"expected {expected}, found {token.shown()}")

    def expect_keyword(self, word: str, expected: str) -> Token:
        if not self.token.keyword(word):
            raise self.fail(expected)
        return self.advance()

    # -- grammar

    def parse(self) -> FilterExpression:
        clauses = [self.clause()]
        while self.token.kind == "PIPE":
            self.advance()
            clause = self.clause()
            if clause.target != clauses[0].target:
                raise _error(
                    self.target_position,
                    "every expression of a filter must filter the same thing: expected "
                    f"{clauses[0].target}, found {clause.target}",
                )
            clauses.append(clause)
        if self.token.kind != "END":  # clause() stops only at | or the end
            raise self.fail("'|' or the end of the expression")
        return _build(self.text, clauses)

    def clause(self) -> Clause:
        start = self.token
        if not start.keyword(INCLUDE, EXCLUDE):
            raise self.fail("INCLUDE or EXCLUDE")
        action = self.advance().text.upper()
        target_token = self.token
        self.target_position = target_token.position
        target = TARGETS.get(target_token.text.lower()) if target_token.kind == "WORD" else None
        if target is None:
            raise self.fail(f"ItemID, UserID or ActionID after {action}")
        self.advance()
        self.expect_keyword("WHERE", f"WHERE after {target}")
        where = self.or_group(target)
        dataset = _where_dataset(where, target)
        if_conditions: tuple[Condition, ...] = ()
        if self.token.keyword("IF"):
            if target == "UserID":
                raise _error(
                    self.token.position,
                    "UserID expressions (user segments) have no current user, so they can't have an IF "
                    "clause",
                )
            self.advance()
            if_conditions = self.if_clause()
        if self.token.kind not in ("PIPE", "END"):
            after = "the IF conditions" if if_conditions else "a condition"
            raise self.fail(f"AND, OR, IF, '|' or the end of the expression after {after}")
        end = self.token.position - 1
        text = self.text[start.position - 1 : end].strip()
        parameters = frozenset(
            value.name
            for condition in (*conditions(where), *if_conditions)
            for value in operands(condition)
            if isinstance(value, Param)
        )
        return Clause(action, target, dataset, where, if_conditions, start.position, text, parameters)

    def or_group(self, target: str) -> Node:
        parts = [self.and_group(target)]
        while self.token.keyword("OR"):
            self.advance()
            parts.append(self.and_group(target))
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def and_group(self, target: str) -> Node:
        parts: list[Node] = [self.condition(target)]
        while self.token.keyword("AND"):
            self.advance()
            parts.append(self.condition(target))
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def condition(self, target: str) -> Condition:
        token = self.token
        if token.kind == "LPAREN":
            raise _error(
                token.position,
                "parentheses can't group conditions; AND binds tighter than OR, so write "
                "'a OR b AND c' for 'a OR (b AND c)', or chain expressions with '|'",
            )
        if token.keyword("IF"):
            raise self.fail("a condition (dataset.FIELD) before IF")
        subject = self.reference()
        if isinstance(subject, CurrentRef):
            if subject.scope == CURRENT_USER:
                raise _error(
                    subject.position,
                    "CurrentUser can only be used in the IF clause at the end of an expression "
                    "(... IF CurrentUser.FIELD ...)",
                )
            raise _error(
                subject.position,
                "CurrentItem.FIELD can only follow IN or a comparison, e.g. Items.GENRE IN CurrentItem.GENRE",
            )
        _check_dataset(subject, target)
        return self.predicate(subject, target)

    def if_clause(self) -> tuple[Condition, ...]:
        found = [self.user_condition()]
        while True:
            if self.token.keyword("AND"):
                self.advance()
                found.append(self.user_condition())
            elif self.token.keyword("OR"):
                raise _error(self.token.position, "IF conditions can only be joined with AND, found 'OR'")
            elif self.token.keyword("IF"):
                raise _error(
                    self.token.position,
                    "an expression can have only one IF clause; join its conditions with AND",
                )
            else:
                return tuple(found)

    def user_condition(self) -> Condition:
        token = self.token
        if token.kind == "LPAREN":
            raise _error(token.position, "parentheses can't group IF conditions; join them with AND")
        subject = self.reference(expected="CurrentUser.FIELD after IF")
        if not (isinstance(subject, CurrentRef) and subject.scope == CURRENT_USER):
            raise _error(
                subject.position,
                "IF conditions can only check the current user: expected CurrentUser.FIELD, found "
                f"'{subject.text}'",
            )
        return self.predicate(subject, None)

    def reference(self, expected: str = "a condition (dataset.FIELD)") -> Subject:
        """``dataset.FIELD``, ``CurrentItem.FIELD`` or ``CurrentUser.FIELD``."""
        first = self.token
        if first.kind != "WORD":
            raise self.fail(expected)
        self.advance()
        dot = self.token
        known = first.text.lower() in DATASET_NAMES or first.text.lower() in ("currentitem", "currentuser")
        if known and (dot.kind != "DOT" or dot.position != first.position + len(first.text)):
            raise _error(
                first.position + len(first.text),
                f"expected '.' and a field name right after '{first.text}' (no spaces), found {dot.shown()}",
            )
        if dot.kind != "DOT":
            hint = f"{expected}; write the dataset and the field, e.g. Items.{first.text.upper()}"
            raise _error(first.position, f"expected {hint}, found {first.shown()}")
        self.advance()
        name_token = self.token
        if name_token.kind != "WORD" or name_token.position != dot.position + 1:
            found = "a space" if name_token.position != dot.position + 1 else name_token.shown()
            raise _error(
                dot.position + 1,
                f"expected a field name right after '{first.text}.' (no spaces), found {found}",
            )
        self.advance()
        text = self.text[first.position - 1 : name_token.position - 1 + len(name_token.text)]
        scope = first.text.lower()
        if scope == "currentitem":
            return CurrentRef(CURRENT_ITEM, name_token.text.upper(), first.position, text)
        if scope == "currentuser":
            return CurrentRef(CURRENT_USER, name_token.text.upper(), first.position, text)
        dataset = DATASET_NAMES.get(scope)
        if dataset is None:
            raise _error(
                first.position,
                f"unknown dataset '{first.text}'; use Items, Users, Interactions, Actions or "
                "Action_Interactions (or CurrentItem / CurrentUser)",
            )
        return FieldRef(dataset, name_token.text.upper(), first.position, text)

    def predicate(self, subject: Subject, target: str | None) -> Condition:
        token = self.token
        where = f"after {subject.text}"
        if token.keyword("IN"):
            self.advance()
            return self.membership(subject, negated=False, target=target, position=token.position)
        if token.keyword("NOT"):
            self.advance()
            if not self.token.keyword("IN"):
                raise self.fail(f"IN after NOT ({subject.text} NOT IN (...))")
            self.advance()
            return self.membership(subject, negated=True, target=target, position=token.position)
        if token.kind == "OP":
            self.advance()
            if isinstance(subject, FieldRef) and subject.dataset in INTERACTION_DATASETS:
                raise _error(
                    token.position,
                    f"{subject} takes IN or NOT IN with a list of event types, not the comparison "
                    f"'{token.text}'",
                )
            operand = self.operand(subject, target, str(token.value))
            return Comparison(subject, str(token.value), operand, token.position)
        raise self.fail(f"IN, NOT IN or a comparison {where}")

    def membership(self, subject: Subject, *, negated: bool, target: str | None, position: int) -> Membership:
        operator = "NOT IN" if negated else "IN"
        token = self.token
        # IN CurrentItem.FIELD, or IN (CurrentItem.FIELD)
        if token.keyword("CURRENTITEM") or (
            token.kind == "LPAREN" and self.peek().keyword("CURRENTITEM") and self.peek(2).kind == "DOT"
        ):
            wrapped = token.kind == "LPAREN"
            if wrapped:
                self.advance()
            current = self.reference()
            assert isinstance(current, CurrentRef)
            if wrapped:
                if self.token.kind != "RPAREN":
                    raise self.fail(f"')' after {current.text} (CurrentItem can't be part of a value list)")
                self.advance()
            self._check_current_item(current, subject, target)
            if negated:
                raise _error(
                    current.position,
                    f"NOT IN can't take {current.text}; only IN can (use EXCLUDE ... IN {current.text})",
                )
            return Membership(subject, negated, (), current, position)
        if token.kind != "LPAREN":
            expected = "'(' and a list of values" + ("" if negated else " or CurrentItem.FIELD")
            raise self.fail(f"{expected} after {operator}")
        self.advance()
        values: list[ListValue] = [self.list_value(subject, negated)]
        while self.token.kind == "COMMA":
            self.advance()
            values.append(self.list_value(subject, negated))
        if self.token.kind != "RPAREN":
            raise self.fail("',' or ')' in the value list")
        self.advance()
        return Membership(subject, negated, tuple(values), None, position)

    def list_value(self, subject: Subject, negated: bool) -> ListValue:
        token = self.token
        if token.kind == "STRING":
            self.advance()
            return StringValue(str(token.value), token.position)
        if token.kind == "PARAM":
            if negated:
                raise _error(
                    token.position,
                    f"placeholder {token.text} can't be used with NOT IN; use IN and the opposite action "
                    "(EXCLUDE instead of INCLUDE, or the reverse)",
                )
            self.advance()
            return Param(str(token.value), token.position)
        if token.kind == "STAR":
            if not (isinstance(subject, FieldRef) and subject.dataset in INTERACTION_DATASETS):
                raise _error(
                    token.position,
                    "'*' (every event type) can only be used with Interactions.EVENT_TYPE, not "
                    f"{subject.text}",
                )
            self.advance()
            return AnyValue(token.position)
        if token.kind == "RPAREN":
            raise self.fail("a value (a double-quoted string, $PARAMETER or *)")
        if token.kind == "NUMBER":
            raise self.fail(f'a double-quoted string or $PARAMETER in the value list (write "{token.text}")')
        if token.keyword("CURRENTITEM"):
            raise _error(
                token.position, "CurrentItem.FIELD can't be part of a value list; write IN CurrentItem.FIELD"
            )
        raise self.fail("a double-quoted string, $PARAMETER or * in the value list")

    def operand(self, subject: Subject, target: str | None, op: str) -> Operand:
        token = self.token
        if token.kind == "NUMBER":
            self.advance()
            return NumberValue(float(token.value), token.text, token.position)  # type: ignore[arg-type]
        if token.kind == "PARAM":
            self.advance()
            return Param(str(token.value), token.position)
        if token.kind == "LPAREN" and self.peek().kind == "PARAM":
            self.advance()
            param = self.advance()
            if self.token.kind != "RPAREN":
                raise self.fail(f"')' after {param.text}")
            self.advance()
            return Param(str(param.value), param.position)
        if token.keyword("CURRENTITEM") and self.peek().kind == "DOT":
            current = self.reference()
            assert isinstance(current, CurrentRef)
            self._check_current_item(current, subject, target)
            return current
        if token.kind == "STRING":
            raise self.fail(
                f"a number, $PARAMETER or CurrentItem.FIELD after '{op}' (comparisons test numeric data; "
                "use IN (...) to match strings)"
            )
        raise self.fail(f"a number, $PARAMETER or CurrentItem.FIELD after '{op}'")

    def _check_current_item(self, current: CurrentRef, subject: Subject, target: str | None) -> None:
        if current.scope != CURRENT_ITEM:
            raise _error(current.position, f"{current.text} can only be the subject of an IF condition")
        if target is None:
            raise _error(current.position, "IF conditions can only compare CurrentUser fields with values")
        if target != "ItemID" or not (isinstance(subject, FieldRef) and subject.dataset == "ITEMS"):
            raise _error(
                current.position,
                "CurrentItem can only be compared with Items fields in ItemID expressions, not with "
                f"{subject.text}",
            )


def _check_dataset(field: FieldRef, target: str) -> None:
    allowed = TARGET_DATASETS[target]
    if field.dataset not in allowed:
        names = " or ".join(DISPLAY_NAMES[d] for d in allowed)
        hint = ""
        if target == "ItemID" and field.dataset == "USERS":
            hint = " (check the current user's fields with IF CurrentUser.FIELD ...)"
        raise _error(
            field.position,
            f"{target} expressions can only use {names} fields, not {DISPLAY_NAMES[field.dataset]}{hint}",
        )
    if field.dataset in INTERACTION_DATASETS and field.name != EVENT_TYPE:
        raise _error(
            field.position,
            f"only EVENT_TYPE can be filtered in {DISPLAY_NAMES[field.dataset]}, not {field.name}",
        )


def _where_dataset(where: Node, target: str) -> str:
    leaves = list(conditions(where))
    first = leaves[0].subject
    assert isinstance(first, FieldRef)
    for leaf in leaves[1:]:
        field = leaf.subject
        assert isinstance(field, FieldRef)
        if field.dataset == first.dataset:
            continue
        pair = {field.dataset, first.dataset}
        if pair in ({"ITEMS", "INTERACTIONS"}, {"ACTIONS", "ACTION_INTERACTIONS"}, {"USERS", "INTERACTIONS"}):
            a, b = (DISPLAY_NAMES[d] for d in (first.dataset, field.dataset))
            raise _error(
                field.position,
                f"{a} and {b} conditions can't be in one expression; chain two expressions with '|', "
                f"e.g. INCLUDE {target} WHERE {first.text} ... | EXCLUDE {target} WHERE {field.text} ...",
            )
        raise _error(
            field.position,
            f"conditions joined by AND / OR must all use the dataset of the first condition "
            f"({DISPLAY_NAMES[first.dataset]}), found {DISPLAY_NAMES[field.dataset]}",
        )
    return first.dataset


def _build(text: str, clauses: list[Clause]) -> FilterExpression:
    target = clauses[0].target
    fields: set[tuple[str, str]] = set()
    event_types: set[str] = set()
    uses_item = uses_user = False
    for clause in clauses:
        for condition in (*conditions(clause.where), *clause.if_conditions):
            subject = condition.subject
            fields.add((subject.dataset, subject.name))
            if isinstance(subject, CurrentRef):
                uses_user = True
            for value in operands(condition):
                if isinstance(value, CurrentRef):
                    uses_item = True
                    fields.add((value.dataset, value.name))
                elif isinstance(subject, FieldRef) and subject.dataset in INTERACTION_DATASETS:
                    if isinstance(value, StringValue):
                        event_types.add(value.value.lower())
                    elif isinstance(value, AnyValue):
                        event_types.add(ANY_EVENT_TYPE)
    return FilterExpression(
        text=text,
        clauses=tuple(clauses),
        target=target,
        parameters=frozenset().union(*(clause.parameters for clause in clauses)),
        fields=frozenset(fields),
        uses_current_item=uses_item,
        uses_current_user=uses_user,
        interaction_event_types=frozenset(event_types),
    )


def parse(text: str) -> FilterExpression:
    """Parse and validate a filter expression; ``InvalidInputException`` says where and why not."""
    if not isinstance(text, str):
        raise InvalidInputException(f"filterExpression: must be a string, not {type(text).__name__}.")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise _error(
            MAX_EXPRESSION_LENGTH + 1,
            f"the expression is {len(text)} characters long; the maximum is {MAX_EXPRESSION_LENGTH}",
        )
    return _Parser(text).parse()


@functools.lru_cache(maxsize=1024)
def parse_cached(text: str) -> FilterExpression:
    """``parse`` memoised by expression text (expressions are immutable once a filter exists)."""
    return parse(text)
