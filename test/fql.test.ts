import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFql, evaluateFql, FqlEvaluationError, parseFql, parseFqlPath } from '../src/protocol/fql/index.js';
import type { JsonObject } from '../src/protocol/types.js';

const event: JsonObject = {
  type: 'track',
  event: 'Order Completed',
  userId: 'u1',
  anonymousId: null,
  messageId: 'm1',
  properties: {
    total: 120.5,
    count: 3,
    neg: -5,
    big: 1000,
    currency: 'USD',
    email: 'Jane@Example.com',
    tags: ['vip', 'beta', 7],
    products: [{ sku: 'a', price: 10 }],
    enabled: true,
    disabled: false,
    empty: '',
    nothing: null,
    numeric_string: '12',
    japanese: 'ア',
    nested: { deep: { value: 'x' } },
    'my key': 'spaced',
    'a-b': 1,
    quote: 'say "hi"',
    apostrophe: "it's",
    newline: 'a\nb',
    pattern: 'Order*',
  },
  context: { library: { name: 'analytics.js', version: '1.0' } },
  traits: { plan: 'pro' },
};

// [expression, expected] against `event`.
const cases: Array<[string, boolean]> = [
  // equality, case and quoting
  ['type = "track"', true],
  ["type = 'track'", true],
  ['type = "Track"', false],
  ['"track" = type', true],
  ['event != "Order Completed"', false],
  ['event != "Other"', true],
  // numbers: int, float, negative, exponent; no coercion from strings
  ['properties.total > 100', true],
  ['properties.total >= 120.5', true],
  ['properties.total < 120.5', false],
  ['properties.total <= 120.5', true],
  ['100 < properties.total', true],
  ['properties.count = 3', true],
  ['properties.count = 3.0', true],
  ['properties.count = "3"', false],
  ['properties.neg = -5', true],
  ['properties.neg < -4.5', true],
  ['properties.big = 1e3', true],
  ['properties.numeric_string > 10', false],
  ['properties.numeric_string = "12"', true],
  ['properties.enabled = true', true],
  ['properties.enabled = "true"', false],
  // null and missing fields
  ['properties.missing = "a"', false],
  ['properties.missing != "a"', true],
  ['properties.missing = null', true],
  ['properties.nothing = null', true],
  ['properties.nothing != null', false],
  ['anonymousId = null', true],
  ['userId != null', true],
  ['properties.missing > 0', false],
  ['!(properties.missing > 0)', true],
  ['integrations.All = null', true],
  ['properties.constructor = null', true],
  // exists
  ['properties.total exists', true],
  ['properties.missing exists', false],
  ['properties.nothing exists', false],
  ['properties.empty exists', true],
  ['properties.disabled exists', true],
  ['!(userId exists)', false],
  // not / ! (real negation) and precedence
  ['not type = "identify"', true],
  ['not event = "Order Completed"', false],
  ['!type = "track"', false],
  ['not not type = "track"', true],
  ['!!(type = "track")', true],
  ['!(type in ["track", "identify"])', false],
  ['type = "identify" or type = "track" and event = "Nope"', false],
  ['(type = "identify" or type = "track") and event = "Order Completed"', true],
  ['type = "track" or event = "x" and false', true],
  ['not type = "track" or true', true],
  ['not (type = "track" or true)', false],
  ['((((type = "track"))))', true],
  ['(type = "track" and (event = "A" or (properties.count = 3 and not properties.total < 100)))', true],
  ['type = "track" and (event = "A" or (properties.count = 4 or !(properties.total > 0)))', false],
  // bare conditions
  ['true', true],
  ['false', false],
  ['properties.enabled', true],
  ['properties.disabled', false],
  ['properties.missing or type = "track"', true],
  ['properties.enabled and not properties.disabled', true],
  // contains
  ['contains(event, "Completed")', true],
  ['contains(event, "completed")', false],
  ['contains(properties.tags, "vip")', true],
  ['contains(properties.tags, 7)', true],
  ['contains(properties.tags, "7")', false],
  ['contains(properties.nothing, "a")', false],
  ['contains(properties.missing, "a")', false],
  ['!contains(properties.missing, "a")', true],
  ['contains(properties.total, "1")', false],
  // match (glob)
  ['match(event, "Order *")', true],
  ['match(event, "order *")', false],
  ['match(event, "Order")', false],
  ['match(event, "?rder Completed")', true],
  ['match(event, "*Comp*")', true],
  ['match(event, "O*r C*d")', true],
  ['match(properties.currency, "US[A-Z]")', true],
  ['match(properties.currency, "US[a-z]")', false],
  ['match(properties.currency, "US[^D]")', false],
  ["match('ab*d', 'ab\\*d')", true],
  ["match('abcd', 'ab\\*d')", false],
  ["match('', '*')", true],
  ['match(properties.missing, "*")', false],
  ['match(properties.total, "*")', false],
  ['match(properties.japanese, "?")', true],
  ['match(event, properties.pattern)', true],
  ['match(properties.email, "*@example.com")', false],
  // lowercase / uppercase / length / typeof
  ['lowercase(properties.email) = "jane@example.com"', true],
  ['match(lowercase(properties.email), "*@example.com")', true],
  ['uppercase(properties.currency) = "USD"', true],
  ['lowercase(properties.missing) = null', true],
  ['length(properties.tags) = 3', true],
  ['length(properties.japanese) = 3', true],
  ['length(properties.missing) = 0', true],
  ['length(properties.empty) = 0', true],
  ['length(userId) > 0', true],
  ['typeof(properties.total) = "number"', true],
  ['typeof(event) = "string"', true],
  ['typeof(properties.tags) = "list"', true],
  ['typeof(properties.enabled) = "bool"', true],
  ['typeof(properties.nothing) = "null"', true],
  ['typeof(properties.missing) = "null"', true],
  ['typeof(properties.nested) = "object"', true],
  // in, lists
  ['"vip" in properties.tags', true],
  ['"blink" in properties.tags', false],
  ['type in ["track", "identify"]', true],
  ['type in ["page"]', false],
  ['properties.count in [1, 2, 3]', true],
  ['properties.count in ["3"]', false],
  ['properties.missing in [null]', true],
  ['"x" in properties.missing', false],
  ['properties.tags = ["vip", "beta", 7]', true],
  ['properties.tags != ["vip"]', true],
  // paths: nesting, escapes, list indexes, other top-level objects
  ['properties.nested.deep.value = "x"', true],
  ['properties.products.0.sku = "a"', true],
  ['properties.products.sku = "a"', false],
  ['properties.my\\ key = "spaced"', true],
  ['properties.a-b = 1', true],
  ['context.library.name = "analytics.js"', true],
  ['traits.plan = "pro"', true],
  // string escapes
  ['properties.quote = "say \\"hi\\""', true],
  ["properties.apostrophe = 'it\\'s'", true],
  ['properties.newline = "a\\nb"', true],
  ['properties.japanese = "\\u30a2"', true],
];

test(`FQL table: ${cases.length} expressions against one event`, () => {
  assert.ok(cases.length >= 50);
  for (const [source, expected] of cases) {
    const compiled = compileFql(source);
    if (!compiled.ok) assert.fail(`${source}: ${compiled.error.message} at ${compiled.error.position}`);
    assert.equal(compiled.value(event), expected, source);
    const parsed = parseFql(source);
    assert.ok(parsed.ok);
    assert.equal(evaluateFql(parsed.value, event), expected, `evaluateFql: ${source}`);
  }
});

test("Segment's own FQL reference examples give Segment's results", () => {
  const doc: JsonObject = {
    event: 'Button Clicked',
    type: 'track',
    context: { library: { name: 'analytics.js', version: '1.0' } },
    properties: { features: ['discounts', 'dark-mode'] },
  };
  const examples: Array<[string, boolean]> = [
    ["event = 'Button Clicked'", true],
    ["event = 'Screen Tapped'", false],
    ["context.path.path = '/login'", false],
    ["type = 'identify' or type = 'track'", true],
    ["event = 'Button Clicked' and type = 'track'", true],
    ["match( context.library.version, '1.*' )", true],
    ["match( context.library.version, '2.*' )", false],
    ["type = 'track' and ( event = 'Click' or match( event, 'Button *' ) )", true],
    ["!contains( context.library.name, 'js' )", false],
    ["'dark-mode' in properties.features", true],
    ["'blink' in properties.features", false],
  ];
  for (const [source, expected] of examples) {
    const compiled = compileFql(source);
    assert.ok(compiled.ok, source);
    assert.equal(compiled.value(doc), expected, source);
  }
});

// [expression, position, part of the message]
const parseErrors: Array<[string, number, string]> = [
  ['', 0, 'expected a value'],
  ['type = ', 7, 'expected a value'],
  ['type == "x"', 5, "'=='"],
  ['type = "track" AND event = "x"', 15, "lowercase ('and')"],
  ['(type = "track"', 15, "expected ')'"],
  ['type = "track")', 14, "expected 'and', 'or'"],
  ['type = "a" and', 14, 'expected a value'],
  ['not', 3, 'expected a value'],
  ['contains(event)', 0, 'takes 2 argument'],
  ['foo(event)', 0, "unknown function 'foo'"],
  ['event = "unterminated', 8, 'unterminated string'],
  ['properties. = 1', 11, "after '.'"],
  ['match(event, "[abc")', 14, "unclosed '['"],
  ['"just a string"', 0, 'expected a condition'],
  ['length(event)', 0, 'expected a condition'],
  ['type = "a" or 42', 14, 'expected a condition'],
  ['properties.total > "10"', 19, 'compares numbers only'],
  ['type in "track"', 8, "right side of 'in'"],
  ["event = 'x' && true", 12, "use 'and'"],
  ['properties.$x = 1', 11, "unexpected character '$'"],
  ['5abc = 1', 1, 'after number'],
  ['x = 1.', 6, "digit after '.'"],
  ['type in [event]', 9, 'list items must be literals'],
  ['event = "\\u12"', 9, '\\u escape'],
  ['a = 1 b', 6, "expected 'and', 'or'"],
];

test('parse errors say what is wrong and where', () => {
  for (const [source, position, fragment] of parseErrors) {
    const parsed = parseFql(source);
    if (parsed.ok) assert.fail(`${source} should not parse`);
    assert.equal(parsed.error.position, position, `${source}: ${parsed.error.message}`);
    assert.ok(parsed.error.message.includes(fragment), `${source}: "${parsed.error.message}" should mention ${fragment}`);
  }
});

test('paths read the event\'s own fields, never inherited members', () => {
  const parsed = JSON.parse('{"properties": {"a": 1}, "traits": {"__proto__": "x"}}') as JsonObject;
  const check = (source: string): boolean => {
    const compiled = compileFql(source);
    assert.ok(compiled.ok, source);
    return compiled.value(parsed);
  };
  assert.equal(check('properties.__proto__ = null'), true);
  assert.equal(check('properties.toString exists'), false);
  assert.equal(check('properties.hasOwnProperty = null'), true);
  assert.equal(check('traits.__proto__ = "x"'), true);
  assert.equal(check('properties.a.length = null'), true);
});

test('deep nesting is an error, not a stack overflow', () => {
  const parsed = parseFql('('.repeat(5000) + 'true' + ')'.repeat(5000));
  assert.equal(parsed.ok, false);
  if (!parsed.ok) assert.match(parsed.error.message, /nested too deeply/);
});

test('a value that cannot be a condition raises FqlEvaluationError with its position', () => {
  const notBool = compileFql('type = "track" and properties.currency');
  assert.ok(notBool.ok);
  assert.throws(() => notBool.value(event), (e: unknown) => e instanceof FqlEvaluationError && e.position === 19);
  const badLength = compileFql('length(properties.total) > 1');
  assert.ok(badLength.ok);
  assert.throws(() => badLength.value(event), FqlEvaluationError);
  // Short-circuit: the bad operand is never read when the left side decides.
  const shortCircuit = compileFql('type = "page" and properties.currency');
  assert.ok(shortCircuit.ok);
  assert.equal(shortCircuit.value(event), false);
});

test('glob matching stays linear on patterns that make regex engines backtrack', () => {
  const compiled = compileFql('match(properties.long, "*a*a*a*a*a*a*a*a*b")');
  assert.ok(compiled.ok);
  const started = performance.now();
  assert.equal(compiled.value({ properties: { long: 'a'.repeat(20000) } }), false);
  assert.ok(performance.now() - started < 1000);
});

test('field paths for filter actions: escapes, digits, keywords as names', () => {
  assert.deepEqual(parseFqlPath('products.price'), { ok: true, value: ['products', 'price'] });
  assert.deepEqual(parseFqlPath('product\\ 1.price'), { ok: true, value: ['product 1', 'price'] });
  assert.deepEqual(parseFqlPath('in'), { ok: true, value: ['in'] });
  assert.deepEqual(parseFqlPath('2fa'), { ok: true, value: ['2fa'] });
  const bad = parseFqlPath('my key');
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.equal(bad.error.position, 2);
});
