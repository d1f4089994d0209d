package profile

import (
	"errors"
	"strings"
	"testing"
)

// Every kind of bad message, with the exact error a dead-letter reader will see.
var rejectCases = []struct {
	name    string
	message string
	reason  Reason
	want    string
}{
	// malformed
	{"not JSON", `{"distinct_id":`, ReasonInvalidJSON, "invalid JSON at byte 15: unexpected end of input, expecting a value"},
	{"trailing data", `{"distinct_id":"u","operations":[]} {}`, ReasonInvalidJSON, "invalid JSON at byte 36: unexpected character '{' after the top-level value"},
	{"invalid UTF-8", "{\"distinct_id\":\"\xff\",\"operations\":[]}", ReasonInvalidJSON, "invalid JSON at byte 16: invalid UTF-8 in a string"},
	{"empty value", ``, ReasonInvalidJSON, "invalid JSON at byte 0: unexpected end of input, expecting a value"},
	{"bad escape", `{"distinct_id":"\x"}`, ReasonInvalidJSON, `invalid JSON at byte 16: invalid escape "\\x" in a string`},
	{"control character in a string", "{\"distinct_id\":\"a\tb\"}", ReasonInvalidJSON, `invalid JSON at byte 17: control character '\t' in a string`},
	{"leading zero", `{"distinct_id":"u","operations":[],"time":01}`, ReasonInvalidJSON, `invalid JSON at byte 43: unexpected character '1', expecting ',' or '}'`},
	{"bad literal", `{"distinct_id":tru}`, ReasonInvalidJSON, `invalid JSON at byte 15: unexpected character 't', expecting a value`},
	{"nested too deep", `{"distinct_id":"u","operations":[{"set":{"a":` + strings.Repeat("[", 1001) + strings.Repeat("]", 1001) + `}}]}`, ReasonInvalidJSON, "invalid JSON at byte 1041: nested deeper than 1000"},
	{"single quotes", `{'distinct_id':'u'}`, ReasonInvalidJSON, `invalid JSON at byte 1: unexpected character '\'', expecting a key string`},
	{"not an object", `["u"]`, ReasonInvalidMessage, "the message must be a JSON object, got an array"},
	// the message
	{"unknown field", `{"distinct_id":"u","operation":[]}`, ReasonInvalidMessage, `unknown field "operation"`},
	{"duplicate field", `{"distinct_id":"u","distinct_id":"v","operations":[]}`, ReasonInvalidMessage, `duplicate field "distinct_id"`},
	{"missing distinct_id", `{"operations":[]}`, ReasonInvalidMessage, "distinct_id: is missing"},
	{"empty distinct_id", `{"distinct_id":"  ","operations":[]}`, ReasonInvalidMessage, `distinct_id: must be a non-empty string, got "  "`},
	{"numeric distinct_id", `{"distinct_id":42,"operations":[]}`, ReasonInvalidMessage, "distinct_id: must be a non-empty string, got a number"},
	{"missing operations", `{"distinct_id":"u"}`, ReasonInvalidMessage, "operations: is missing"},
	{"operations not a list", `{"distinct_id":"u","operations":{"set":{"a":1}}}`, ReasonInvalidMessage, "operations: must be an array of operations, got an object"},
	{"bad time string", `{"distinct_id":"u","operations":[],"time":"yesterday"}`, ReasonInvalidMessage, `time: "yesterday" is not an RFC 3339 time (e.g. "2024-05-01T12:00:00Z") or epoch milliseconds`},
	{"fractional epoch", `{"distinct_id":"u","operations":[],"time":1.5}`, ReasonInvalidMessage, `time: "1.5" is not epoch milliseconds: a whole number from 0 to 253402300799999`},
	{"empty event_id", `{"distinct_id":"u","operations":[],"event_id":""}`, ReasonInvalidMessage, `event_id: must be a non-empty string, got ""`},
	{"mixed forms", `{"distinct_id":"u","operations":[],"$user_operations":[]}`, ReasonInvalidMessage, `field "operations" is not allowed in an identity event (a message with $user_operations)`},
	{"identity field in v1", `{"distinct_id":"u","operations":[],"env":"WS"}`, ReasonInvalidMessage, `unknown field "env" (identity-event fields need $user_operations)`},
	// operations
	{"operation not an object", `{"distinct_id":"u","operations":["add_email"]}`, ReasonInvalidOperation, "operations[0]: must be an object with one key naming the operation, got a string"},
	{"empty operation", `{"distinct_id":"u","operations":[{}]}`, ReasonInvalidOperation, "operations[0]: must be an object with one key naming the operation, got an empty object"},
	{"two keys in one operation", `{"distinct_id":"u","operations":[{"add_email":"a@example.com","set":{"a":1}}]}`, ReasonInvalidOperation, `operations[0]: must have exactly one key naming the operation, got 2 ("add_email", "set")`},
	{"unknown operation", `{"distinct_id":"u","operations":[{"set":{"a":1}},{"add_fax":"+1"}]}`, ReasonInvalidOperation, `operations[1]: unknown operation "add_fax"`},
	{"empty operation later in the list", `{"distinct_id":"u","operations":[{"set":{"a":1}},{},{},{"add_email":"x y@example.com"}]}`, ReasonInvalidOperation, `operations[1]: must be an object with one key naming the operation, got an empty object`},
	{"email index 3", `{"distinct_id":"u","operations":[{"set":{"a":1}},{"unset":"b"},{"set_timezone":"UTC"},{"add_email":"x y@example.com"}]}`, ReasonInvalidOperation, `operations[3].add_email: "x y@example.com" is not a valid email`},
	{"email format", `{"distinct_id":"u","operations":[{"add_email":"not-an-email"}]}`, ReasonInvalidOperation, `operations[0].add_email: "not-an-email" is not a valid email`},
	{"email too short", `{"distinct_id":"u","operations":[{"remove_email":"a@b.c"}]}`, ReasonInvalidOperation, `operations[0].remove_email: "a@b.c" is not a valid email: it must be 6 to 127 characters long`},
	{"email not a string", `{"distinct_id":"u","operations":[{"add_email":["a@example.com"]}]}`, ReasonInvalidOperation, "operations[0].add_email: must be a non-empty string, got an array"},
	{"mobile without plus", `{"distinct_id":"u","operations":[{"add_sms":"15555550100"}]}`, ReasonInvalidOperation, `operations[0].add_sms: "15555550100" is not a valid mobile number: it must start with + and the country code, e.g. +41446681800`},
	{"mobile too short", `{"distinct_id":"u","operations":[{"add_whatsapp":"+123456"}]}`, ReasonInvalidOperation, `operations[0].add_whatsapp: "+123456" is not a valid mobile number: it must be at least 8 characters long`},
	{"empty push token", `{"distinct_id":"u","operations":[{"add_androidpush":"  "}]}`, ReasonInvalidOperation, "operations[0].add_androidpush: must be a non-empty string"},
	{"android provider apns", `{"distinct_id":"u","operations":[{"add_androidpush":{"token":"t","provider":"apns"}}]}`, ReasonInvalidOperation, `operations[0].add_androidpush.provider: "apns" is not a supported androidpush provider (fcm, xiaomi, oppo)`},
	{"ios provider fcm", `{"distinct_id":"u","operations":[{"add_iospush":{"token":"t","provider":"fcm"}}]}`, ReasonInvalidOperation, `operations[0].add_iospush.provider: "fcm" is not a supported iospush provider (apns)`},
	{"push object with unknown key", `{"distinct_id":"u","operations":[{"add_androidpush":{"tok":"t"}}]}`, ReasonInvalidOperation, `operations[0].add_androidpush: unknown key "tok": the object form is {"token": ..., "provider": ...}`},
	{"webpush not an object", `{"distinct_id":"u","operations":[{"add_webpush":"https://push.example.com"}]}`, ReasonInvalidOperation, "operations[0].add_webpush: must be a non-empty object, got a string"},
	{"slack empty object", `{"distinct_id":"u","operations":[{"add_slack":{}}]}`, ReasonInvalidOperation, "operations[0].add_slack: must be a non-empty object, got {}"},
	{"slack string", `{"distinct_id":"u","operations":[{"add_slack":"U123"}]}`, ReasonInvalidOperation, "operations[0].add_slack: must be a non-empty object, got a string"},
	{"ms_teams empty object", `{"distinct_id":"u","operations":[{"remove_ms_teams":{}}]}`, ReasonInvalidOperation, "operations[0].remove_ms_teams: must be a non-empty object, got {}"},
	{"reserved $ key", `{"distinct_id":"u","operations":[{"set":{"ok":1,"$custom":1}}]}`, ReasonInvalidOperation, `operations[0].set.$custom: reserved key: only the SDK's own keys may start with "$" or "ss_"`},
	{"reserved ss_ key", `{"distinct_id":"u","operations":[{"set_once":{"ss_thing":1}}]}`, ReasonInvalidOperation, `operations[0].set_once.ss_thing: reserved key: only the SDK's own keys may start with "$" or "ss_"`},
	{"reserved SS_ key", `{"distinct_id":"u","operations":[{"increment":{"SS_Upper":1}}]}`, ReasonInvalidOperation, `operations[0].increment.SS_Upper: reserved key: only the SDK's own keys may start with "$" or "ss_"`},
	{"empty key", `{"distinct_id":"u","operations":[{"set":{" ":1}}]}`, ReasonInvalidOperation, `operations[0].set: key " " is empty`},
	{"duplicate key", `{"distinct_id":"u","operations":[{"append":{"wishlist":"iphone12","wishlist":"Apple airpods"}}]}`, ReasonInvalidOperation, "operations[0].append.wishlist: duplicate key"},
	{"empty set", `{"distinct_id":"u","operations":[{"set":{}}]}`, ReasonInvalidOperation, "operations[0].set: must not be empty: give at least one key"},
	{"set not an object", `{"distinct_id":"u","operations":[{"set":["plan","pro"]}]}`, ReasonInvalidOperation, "operations[0].set: must be an object of key to value, got an array"},
	{"channel key in set", `{"distinct_id":"u","operations":[{"set":{"$email":"a@example.com"}}]}`, ReasonInvalidOperation, "operations[0].set.$email: channel key not allowed here: change channels with add_*/remove_*, append/remove or unset"},
	{"increment by a string", `{"distinct_id":"u","operations":[{"increment":{"logins":"1"}}]}`, ReasonInvalidOperation, "operations[0].increment.logins: must be a number, got a string"},
	{"append null", `{"distinct_id":"u","operations":[{"append":{"tags":null}}]}`, ReasonInvalidOperation, "operations[0].append.tags: value must not be null"},
	{"append invalid channel value", `{"distinct_id":"u","operations":[{"append":{"$email":"nope"}}]}`, ReasonInvalidOperation, `operations[0].append.$email: "nope" is not a valid email`},
	{"provider without push channel", `{"distinct_id":"u","operations":[{"append":{"$id_provider":"fcm","tags":"x"}}]}`, ReasonInvalidOperation, "operations[0].append.$id_provider: a provider is only allowed beside $androidpush, $iospush or $webpush"},
	{"bad provider via append", `{"distinct_id":"u","operations":[{"append":{"$androidpush":"t","$pushvendor":"huawei"}}]}`, ReasonInvalidOperation, `operations[0].append.$pushvendor: "huawei" is not a supported androidpush provider (fcm, xiaomi, oppo)`},
	{"provider not a string", `{"distinct_id":"u","operations":[{"add_androidpush":{"token":"t","provider":1}}]}`, ReasonInvalidOperation, "operations[0].add_androidpush.provider: provider must be a string (fcm, xiaomi, oppo), got a number"},
	{"two push channels", `{"distinct_id":"u","operations":[{"append":{"$androidpush":"a","$iospush":"b"}}]}`, ReasonInvalidOperation, "operations[0].append.$iospush: only one of $androidpush, $iospush and $webpush per operation: they share the provider key"},
	{"language with region", `{"distinct_id":"u","operations":[{"set_preferred_language":"en-US"}]}`, ReasonInvalidOperation, `operations[0].set_preferred_language: "en-US" is not a supported language code (one of the 183 ISO 639-1 codes, e.g. "en")`},
	{"language unknown", `{"distinct_id":"u","operations":[{"set_preferred_language":"xx"}]}`, ReasonInvalidOperation, `operations[0].set_preferred_language: "xx" is not a supported language code (one of the 183 ISO 639-1 codes, e.g. "en")`},
	{"language via set", `{"distinct_id":"u","operations":[{"set":{"$preferred_language":"xx-invalid"}}]}`, ReasonInvalidOperation, `operations[0].set.$preferred_language: "xx-invalid" is not a supported language code (one of the 183 ISO 639-1 codes, e.g. "en")`},
	{"empty timezone", `{"distinct_id":"u","operations":[{"set_timezone":""}]}`, ReasonInvalidOperation, `operations[0].set_timezone: must be a non-empty time zone name, e.g. "America/New_York"`},
	{"unset empty list", `{"distinct_id":"u","operations":[{"unset":[]}]}`, ReasonInvalidOperation, "operations[0].unset: must name at least one key, got []"},
	{"unset non-string", `{"distinct_id":"u","operations":[{"unset":["a",1]}]}`, ReasonInvalidOperation, "operations[0].unset: element 1 must be a key string, got a number"},
	{"long value quoted and cut", `{"distinct_id":"u","operations":[{"add_email":"` + strings.Repeat("é", 40) + `"}]}`, ReasonInvalidOperation, `operations[0].add_email: "` + strings.Repeat("é", 32) + `…" is not a valid email`},
	// identity events
	{"identity event with wrong env", `{"env":"OTHER","distinct_id":"u","$user_operations":[]}`, ReasonInvalidMessage, `env: "OTHER" is not the workspace key this worker sends to`},
	{"identity event schema 1", `{"$schema":"1","distinct_id":"u","$user_operations":[]}`, ReasonInvalidMessage, `$schema: must be "2", got "1"`},
	{"identity event $time as string", `{"$time":"2024-01-01T00:00:00Z","distinct_id":"u","$user_operations":[]}`, ReasonInvalidMessage, "$time: must be epoch milliseconds (a number), got a string"},
	{"identity event unknown op key", `{"distinct_id":"u","$user_operations":[{"$inc":{"a":1}}]}`, ReasonInvalidOperation, `$user_operations[0]: unknown key "$inc" (an operation has $set, $set_once, $add, $append, $remove or $unset)`},
	{"identity event reserved key", `{"distinct_id":"u","$user_operations":[{"$set":{"$custom":1}}]}`, ReasonInvalidOperation, `$user_operations[0].$set.$custom: reserved key: only the SDK's own keys may start with "$" or "ss_"`},
	{"identity event extra property", `{"distinct_id":"u","$user_operations":[],"properties":{"x":1}}`, ReasonInvalidMessage, `properties: unknown property "x" (only $ss_sdk_version is allowed; it is replaced by this worker's)`},
	// size
	{"too large", `{"distinct_id":"u","operations":[{"set":{"pad":"` + strings.Repeat("x", 10200) + `"}}]}`, ReasonTooLarge, "the event is 10414 bytes as it would be sent, over the limit of 10240"},
}

func TestDecodeRejects(t *testing.T) {
	if len(rejectCases) < 30 {
		t.Fatalf("only %d kinds of bad input", len(rejectCases))
	}
	for _, tc := range rejectCases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := decodeWith([]byte(tc.message), testOrigin, Options{WorkspaceKey: "WS", UserAgent: "profile-ingest/test"})
			if err == nil {
				t.Fatalf("accepted: %s", ev.Body)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not a *Error", err)
			}
			if e.Reason != tc.reason || err.Error() != tc.want {
				t.Errorf("got  %s %s\nwant %s %s", e.Reason, err, tc.reason, tc.want)
			}
			if e.Code() != 400 {
				t.Errorf("Code() = %d, want 400", e.Code())
			}
			if ev.Body != nil {
				t.Error("a rejected message has a body")
			}
		})
	}
}

// The builder reports the same errors with the same fields.
func TestMutationErrors(t *testing.T) {
	tests := []struct {
		name string
		m    *Mutation
		want string
	}{
		{"empty distinct id", NewMutation(" ").Set("a", 1), `distinct_id: must be a non-empty string, got " "`},
		{"first error wins", NewMutation("u").Set("a", 1).AddEmail("x y@example.com").AddSMS("1"), `operations[1].add_email: "x y@example.com" is not a valid email`},
		{"reserved key", NewMutation("u").Set("$custom", 1), `operations[0].set.$custom: reserved key: only the SDK's own keys may start with "$" or "ss_"`},
		{"provider", NewMutation("u").AddAndroidPush("t", "apns"), `operations[0].add_androidpush.provider: "apns" is not a supported androidpush provider (fcm, xiaomi, oppo)`},
		{"no keys to unset", NewMutation("u").Unset(), "operations[0].unset: must name at least one key, got []"},
		{"nil slack", NewMutation("u").AddSlack(nil), "operations[0].add_slack: must be a non-empty object, got null"},
		{"language", NewMutation("u").SetPreferredLanguage("en-US"), `operations[0].set_preferred_language: "en-US" is not a supported language code (one of the 183 ISO 639-1 codes, e.g. "en")`},
		{"unencodable value", NewMutation("u").Set("f", func() {}), "operations[0].set: value cannot be encoded as JSON: json: unsupported type: func()"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.Validate()
			if got := errString(err); got != tc.want {
				t.Fatalf("Validate() = %q\n want %q", got, tc.want)
			}
			if _, err := tc.m.MarshalJSON(); errString(err) != tc.want {
				t.Errorf("MarshalJSON error = %v", err)
			}
		})
	}
	m := NewMutation("u").AddEmail("bad").AddSMS("bad").Set("ok", 1)
	if errs := m.Errors(); len(errs) != 2 || errs[1].Field != "operations[1].add_sms" {
		t.Errorf("Errors() = %v, want the two errors in call order", errs)
	}
}
