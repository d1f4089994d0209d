package mapping

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/profile"
)

// The identify call of the Segment spec's example (segment.com/docs/connections/spec/identify),
// with a phone trait added.
const specIdentify = `{
  "anonymousId": "507f191e810c19729de860ea",
  "channel": "browser",
  "context": {"ip": "8.8.8.8", "userAgent": "Mozilla/5.0", "locale": "en-US", "device": {"type": "android", "token": "fcm-tok-9"}},
  "integrations": {"All": false, "Mixpanel": true, "Salesforce": true},
  "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
  "receivedAt": "2015-02-23T22:28:55.387Z",
  "sentAt": "2015-02-23T22:28:55.111Z",
  "timestamp": "2015-02-23T22:28:55.111Z",
  "traits": {"name": "Peter Gibbons", "email": "peter@example.com", "plan": "premium", "logins": 5, "phone": "+14155550123",
    "address": {"street": "6th St", "city": "San Francisco", "state": "CA", "postalCode": "94103", "country": "USA"}},
  "type": "identify",
  "userId": "97980cfea0067",
  "version": "1.1"
}`

func TestSegmentScenarios(t *testing.T) {
	const richMapping = `
channels:
  androidpush: {field: context.device.token, provider: fcm}
  iospush: traits.apns_token
  slack: traits.slack
preferred_language: traits.language
timezone: traits.timezone
properties:
  exclude: [address]
`
	tests := []struct {
		name, mapping, call string
		id, ops             string
		insertID            string // "" = derived from the record's place
		ms                  int64
		skip                string
		reason              profile.Reason
		err                 string
	}{
		{name: "SuprSend's defaults: userId, traits.email to email, traits.phone to sms, every other trait a property",
			call: specIdentify, id: "97980cfea0067", insertID: "022bb90c-bbac-11e4-8dfc-aa07a5b093db", ms: 1424730535111,
			ops: `[{"$append":{"$email":"peter@example.com"}},{"$append":{"$sms":"+14155550123"}},{"$set":{"address":{"street":"6th St","city":"San Francisco","state":"CA","postalCode":"94103","country":"USA"},"logins":5,"name":"Peter Gibbons","plan":"premium"}}]`},
		{name: "push from context.device, iOS token, slack object, language and timezone traits, an excluded trait",
			mapping: richMapping,
			call:    `{"type":"identify","userId":"u1","messageId":"m1","timestamp":"2024-05-01T12:00:00Z","context":{"device":{"type":"android","token":"fcm-1"}},"traits":{"email":"a@example.com","apns_token":"apns-1","slack":{"email":"a@example.com","access_token":"xoxb-1"},"language":"hi","timezone":"Asia/Kolkata","address":{"city":"Pune"},"vip":true}}`,
			id:      "u1", insertID: "m1", ms: 1714564800000,
			ops: `[{"$append":{"$email":"a@example.com"}},{"$append":{"$androidpush":"fcm-1","$id_provider":"fcm"}},{"$append":{"$iospush":"apns-1","$id_provider":"apns"}},{"$append":{"$slack":{"email":"a@example.com","access_token":"xoxb-1"}}},{"$set":{"$preferred_language":"hi"}},{"$set":{"$timezone":"Asia/Kolkata"}},{"$set":{"vip":true}}]`},
		{name: "a trait set to null is unset", call: `{"type":"identify","userId":"u2","messageId":"m2","traits":{"plan":null,"email":"b@example.com"}}`,
			id: "u2", insertID: "m2", ms: 5000, ops: `[{"$append":{"$email":"b@example.com"}},{"$unset":["plan"]}]`},
		{name: "without messageId or timestamp: the record's place and time", call: `{"type":"identify","userId":"u3","traits":{"plan":"free"}}`,
			id: "u3", ms: 5000, ops: `[{"$set":{"plan":"free"}}]`},
		{name: "an anonymous-only identify call is committed past", call: `{"type":"identify","anonymousId":"a-1","traits":{"email":"x@example.com"}}`, skip: "segment_anonymous"},
		{name: "a track call is committed past", call: `{"type":"track","userId":"u1","event":"Signed Up","properties":{"plan":"pro"}}`, skip: "segment_track"},
		{name: "a page call is committed past", call: `{"type":"page","userId":"u1","name":"Home"}`, skip: "segment_page"},
		{name: "an identify call with no traits sends nothing", call: `{"type":"identify","userId":"u1"}`, skip: "no_change"},
		{name: "an unknown type", call: `{"type":"identity","userId":"u1"}`, reason: profile.ReasonInvalidMessage, err: `type: "identity" is not a Segment call type`},
		{name: "no type: not a Segment call", call: `{"distinct_id":"u1","operations":[]}`, reason: profile.ReasonInvalidMessage, err: "type: is missing"},
		{name: "no userId and no anonymousId", call: `{"type":"identify","traits":{"a":1}}`, reason: profile.ReasonInvalidMessage, err: "userId: is missing"},
		{name: "a bad timestamp", call: `{"type":"identify","userId":"u1","timestamp":"yesterday","traits":{"a":1}}`, reason: profile.ReasonInvalidMessage, err: `timestamp: "yesterday" is not an ISO 8601 time`},
		{name: "a bad email names the trait and the operation", call: `{"type":"identify","userId":"u1","traits":{"email":"nope"}}`, reason: profile.ReasonInvalidOperation, err: `traits.email (as add_email): "nope" is not a valid email`},
		{name: "a phone without +country code", call: `{"type":"identify","userId":"u1","traits":{"phone":"4155550123"}}`, reason: profile.ReasonInvalidOperation, err: "traits.phone (as add_sms)"},
		{name: "a reserved trait key names the set", call: `{"type":"identify","userId":"u1","traits":{"$weird":1}}`, reason: profile.ReasonInvalidOperation, err: "traits (as set"},
		{name: "a messageId too long for an $insert_id", call: `{"type":"identify","userId":"u1","messageId":"` + strings.Repeat("m", 300) + `","traits":{"a":1}}`, reason: profile.ReasonInvalidMessage, err: "messageId:"},
		{name: "traits not an object", call: `{"type":"identify","userId":"u1","traits":"x"}`, reason: profile.ReasonInvalidMessage, err: "traits: must be an object"},
		{name: "not JSON", call: `{"type":"identify"`, reason: profile.ReasonInvalidJSON, err: "invalid JSON at byte"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSegment(mustMapping(t, tc.mapping, FormatSegment), testOpts)
			if err != nil {
				t.Fatal(err)
			}
			origin := profile.Origin{Topic: "seg", Partition: 1, Offset: 7, Timestamp: time.UnixMilli(5000)}
			ev, err := s.Decode([]byte(tc.call), origin)
			switch {
			case tc.skip != "":
				var sk *profile.Skip
				if !errors.As(err, &sk) || sk.Reason != tc.skip {
					t.Fatalf("got %v, want skip %q", err, tc.skip)
				}
				return
			case tc.reason != "":
				var pe *profile.Error
				if !errors.As(err, &pe) || pe.Reason != tc.reason || !strings.Contains(pe.Error(), tc.err) {
					t.Fatalf("got %v, want %s containing %q", err, tc.reason, tc.err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			id, ops, ms := userOps(t, ev)
			want := tc.insertID
			if want == "" {
				want = profile.InsertIDFor(origin)
			}
			if id != tc.id || ops != tc.ops || ms != tc.ms || ev.InsertID != want {
				t.Errorf("got %q %d %s\n%s\nwant %q %d %s\n%s", id, ms, ev.InsertID, ops, tc.id, tc.ms, want, tc.ops)
			}
		})
	}
}

func TestMappingValidation(t *testing.T) {
	tests := []struct {
		name, raw string
		f         Format
		err       string
	}{
		{"debezium needs distinct_id", "channels: {email: email}", FormatDebezium, "distinct_id: is required"},
		{"unknown key", "distinct_id: id\nchanels: {}", FormatDebezium, "chanels: is not a key here: use channels, distinct_id, on_delete, preferred_language, properties, timezone"},
		{"unknown channel", "distinct_id: id\nchannels: {fax: f}", FormatDebezium, "channels.fax: is not a key here: use androidpush, email, iospush, ms_teams, slack, sms, webpush, whatsapp"},
		{"unknown push key", "distinct_id: id\nchannels: {iospush: {field: t, vendor: apns}}", FormatDebezium, "channels.iospush.vendor: is not a key here: use field, provider, provider_field"},
		{"a list where a field name goes", "distinct_id: [id]", FormatDebezium, "distinct_id: must be a field name (a string), got a list"},
		{"a number in a list of fields", "distinct_id: id\nproperties: {exclude: [a, 3]}", FormatDebezium, "properties.exclude[1]: must be a field name (a string), got a number"},
		{"channels not a mapping", "distinct_id: id\nchannels: email", FormatDebezium, "channels: must be a mapping of keys, got a string"},
		{"a file that is a list", "- distinct_id", FormatDebezium, "the mapping: must be a mapping of keys, got a list"},
		{"a field mapped twice", "distinct_id: id\nchannels: {email: c, sms: c}", FormatDebezium, `channels.sms: field "c" is already mapped by channels.email`},
		{"push without field", "distinct_id: id\nchannels: {androidpush: {provider: fcm}}", FormatDebezium, "channels.androidpush.field: is required"},
		{"push with a wrong provider", "distinct_id: id\nchannels: {iospush: {field: t, provider: fcm}}", FormatDebezium, `channels.iospush.provider: "fcm" is not a provider of this channel: use apns`},
		{"push with both providers", "distinct_id: id\nchannels: {androidpush: {field: t, provider: fcm, provider_field: p}}", FormatDebezium, "channels.androidpush: provider and provider_field are both set"},
		{"an included mapped field", "distinct_id: id\nchannels: {email: email}\nproperties: {include: [email]}", FormatDebezium, `properties.include[0]: "email" is mapped by channels.email`},
		{"an empty exclude", "distinct_id: id\nproperties: {exclude: [\"\"]}", FormatDebezium, "properties.exclude[0]: must not be empty"},
		{"a bad delete policy", "distinct_id: id\non_delete: ignore", FormatDebezium, `on_delete: "ignore" is not a delete policy`},
		{"a segment path with an empty step", "channels: {email: traits..email}", FormatSegment, `channels.email: "traits..email" has an empty segment`},
		{"a mapping for the mutation format", "distinct_id: id", FormatMutation, "takes no mapping"},
		{"not YAML", "distinct_id: [", FormatDebezium, "not YAML: yaml: line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.raw), tc.f)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want an error containing %q", err, tc.err)
			}
		})
	}
	m, err := Parse(nil, FormatSegment)
	if err != nil || m.DistinctID != "userId" || m.Channels.Email != "traits.email" || m.Channels.SMS != "traits.phone" {
		t.Fatalf("segment defaults: %+v %v", m, err)
	}
	if _, err := ParseFormat("avro"); err == nil || !strings.Contains(err.Error(), "use mutation, debezium or segment") {
		t.Fatalf("ParseFormat: %v", err)
	}
}
