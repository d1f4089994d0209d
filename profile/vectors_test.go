package profile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The official node SDK 1.10.0 capture: what the SDK sent for each case. Tests here build the
// same calls through this package and compare, op by op.
var vectorsDir = filepath.Join("..", "..", "shared", "vectors")

const (
	nodeWorkspaceKey = "WSKEY_test_0123456789"
	nodeUserAgent    = "suprsend/1.10.0;node/20.20.2"
)

type capturedRequest struct {
	Seq      int     `json:"seq"`
	Case     string  `json:"case"`
	BodyUTF8 *string `json:"body_utf8"`
}

// loadCapture returns the captured request bodies by case (single-event cases) and the bulk
// bodies that were stored whole.
func loadCapture(t testing.TB) (single map[string]string, bulk []string) {
	t.Helper()
	path := filepath.Join(vectorsDir, "node-sdk-1.10.0-requests.jsonl")
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		t.Skipf("SKIP: the node SDK capture %s is absent; these tests compare with it", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	single = map[string]string{}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var req capturedRequest
			if err := json.Unmarshal(line, &req); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if req.BodyUTF8 != nil {
				if strings.HasPrefix(req.Case, "bulk_") {
					bulk = append(bulk, *req.BodyUTF8)
				} else {
					single[req.Case] = *req.BodyUTF8
				}
			}
		}
		if err != nil {
			break
		}
	}
	return single, bulk
}

// sdkOps returns the $user_operations of a captured event as raw elements, with node 1.10.0's
// provider key renamed to the one this project sends.
func sdkOps(t *testing.T, body string) []string {
	t.Helper()
	var ev struct {
		Ops []json.RawMessage `json:"$user_operations"`
	}
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ev.Ops))
	for i, op := range ev.Ops {
		out[i] = strings.ReplaceAll(string(op), `"$pushvendor":`, `"$id_provider":`)
	}
	return out
}

func eventOps(t *testing.T, body []byte) []string {
	t.Helper()
	var ev struct {
		Ops []json.RawMessage `json:"$user_operations"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("event body is not JSON: %v\n%s", err, body)
	}
	out := make([]string, len(ev.Ops))
	for i, op := range ev.Ops {
		out[i] = string(op)
	}
	return out
}

var testOrigin = Origin{Topic: "profiles", Partition: 3, Offset: 42, Timestamp: time.UnixMilli(1700000000123)}
var testOpts = Options{WorkspaceKey: nodeWorkspaceKey, UserAgent: nodeUserAgent}

// vectorCases are the SDK calls of each captured case, as a v1 message and as builder calls.
// sdkDiff overrides elements where this project deliberately differs from node 1.10.0.
var vectorCases = []struct {
	name    string
	message string
	build   func() *Mutation
	sdkDiff map[int]string
}{
	{
		name: "single_all_add_and_property_ops",
		message: `{"distinct_id":"user_all_ops_1","operations":[
			{"add_email":"alice@example.com"},
			{"add_sms":"+15555550100"},
			{"add_whatsapp":"+15555550101"},
			{"add_androidpush":"fcm_token_abc"},
			{"add_androidpush":{"token":"xiaomi_token_abc","provider":"xiaomi"}},
			{"add_androidpush":{"token":"oppo_token_abc","provider":"oppo"}},
			{"add_iospush":"apns_token_abc"},
			{"add_webpush":{"endpoint":"https://push.example.com/abc","keys":{"p256dh":"p256dh_val","auth":"auth_val"}}},
			{"add_slack":{"email":"alice@example.com","access_token":"xoxb-123"}},
			{"add_ms_teams":{"tenant_id":"tenant_1","service_url":"https://smba.trafficmanager.net/amer","conversation_id":"conv_1"}},
			{"set_preferred_language":"en"},
			{"set_timezone":"America/New_York"},
			{"set":{"name":"Alice"}},
			{"set":{"plan":"pro","age":30,"nested":{"a":1,"b":[1,2]},"unicode":"héllo ✓ 日本"}},
			{"set_once":{"first_seen":"2024-01-01"}},
			{"set_once":{"signup_source":"web"}},
			{"increment":{"login_count":1}},
			{"increment":{"credits":5.5,"visits":-1}},
			{"append":{"tags":"vip"}},
			{"append":{"interests":"music"}},
			{"remove":{"tags":"old"}},
			{"remove":{"interests":"sports"}},
			{"unset":"temp_key"},
			{"unset":["k1","k2"]},
			{"unset":"$email"},
			{"unset":["$sms","$whatsapp"]}]}`,
		build: func() *Mutation {
			return NewMutation("user_all_ops_1").
				AddEmail("alice@example.com").
				AddSMS("+15555550100").
				AddWhatsApp("+15555550101").
				AddAndroidPush("fcm_token_abc", "").
				AddAndroidPush("xiaomi_token_abc", "xiaomi").
				AddAndroidPush("oppo_token_abc", "oppo").
				AddIOSPush("apns_token_abc").
				AddWebPush(map[string]any{"endpoint": "https://push.example.com/abc", "keys": map[string]any{"p256dh": "p256dh_val", "auth": "auth_val"}}).
				AddSlack(map[string]any{"email": "alice@example.com", "access_token": "xoxb-123"}).
				AddMSTeams(map[string]any{"tenant_id": "tenant_1", "service_url": "https://smba.trafficmanager.net/amer", "conversation_id": "conv_1"}).
				SetPreferredLanguage("en").
				SetTimezone("America/New_York").
				Set("name", "Alice").
				SetMany(map[string]any{"plan": "pro", "age": 30, "nested": map[string]any{"a": 1, "b": []int{1, 2}}, "unicode": "héllo ✓ 日本"}).
				SetOnce("first_seen", "2024-01-01").
				SetOnceMany(map[string]any{"signup_source": "web"}).
				Increment("login_count", 1).
				IncrementMany(map[string]float64{"credits": 5.5, "visits": -1}).
				Append("tags", "vip").
				AppendMany(map[string]any{"interests": "music"}).
				Remove("tags", "old").
				RemoveMany(map[string]any{"interests": "sports"}).
				Unset("temp_key").
				Unset("k1", "k2").
				Unset("$email").
				Unset("$sms", "$whatsapp")
		},
	},
	{
		name: "single_all_remove_channel_ops",
		message: `{"distinct_id":"user_remove_ops_1","operations":[
			{"remove_email":"alice@example.com"},
			{"remove_sms":"+15555550100"},
			{"remove_whatsapp":"+15555550101"},
			{"remove_androidpush":"fcm_token_abc"},
			{"remove_androidpush":{"token":"xiaomi_token_abc","provider":"xiaomi"}},
			{"remove_iospush":"apns_token_abc"},
			{"remove_webpush":{"endpoint":"https://push.example.com/abc","keys":{"p256dh":"p256dh_val","auth":"auth_val"}}},
			{"remove_slack":{"email":"alice@example.com","access_token":"xoxb-123"}},
			{"remove_ms_teams":{"tenant_id":"tenant_1","service_url":"https://smba.trafficmanager.net/amer","conversation_id":"conv_1"}}]}`,
		build: func() *Mutation {
			return NewMutation("user_remove_ops_1").
				RemoveEmail("alice@example.com").
				RemoveSMS("+15555550100").
				RemoveWhatsApp("+15555550101").
				RemoveAndroidPush("fcm_token_abc", "").
				RemoveAndroidPush("xiaomi_token_abc", "xiaomi").
				RemoveIOSPush("apns_token_abc").
				RemoveWebPush(map[string]any{"endpoint": "https://push.example.com/abc", "keys": map[string]any{"p256dh": "p256dh_val", "auth": "auth_val"}}).
				RemoveSlack(map[string]any{"email": "alice@example.com", "access_token": "xoxb-123"}).
				RemoveMSTeams(map[string]any{"tenant_id": "tenant_1", "service_url": "https://smba.trafficmanager.net/amer", "conversation_id": "conv_1"})
		},
	},
	{
		// The case's calls (results.json extra.builder_throws): append kv "$email", dict
		// {"$androidpush","$pushvendor"}, dict {"$androidpush","$id_provider"}, webpush, kv
		// "$slack", kv "$ms_teams", remove kv "$sms"; remove dict "$slack" threw in node.
		name: "single_identity_via_append_remove",
		message: `{"distinct_id":"user_ident_generic_1","operations":[
			{"append":{"$email":"bob@example.com"}},
			{"append":{"$androidpush":"tokA","$pushvendor":"xiaomi"}},
			{"append":{"$androidpush":"tokB","$id_provider":"xiaomi"}},
			{"append":{"$webpush":{"endpoint":"https://push.example.com/x"},"$pushvendor":"vapid"}},
			{"append":{"$slack":{"user_id":"U123","access_token":"xoxb-1"}}},
			{"append":{"$ms_teams":{"user_id":"29:abc"}}},
			{"remove":{"$sms":"+15555550100"}}]}`,
		build: func() *Mutation {
			return NewMutation("user_ident_generic_1").
				Append("$email", "bob@example.com").
				AppendMany(map[string]any{"$androidpush": "tokA", "$pushvendor": "xiaomi"}).
				AppendMany(map[string]any{"$androidpush": "tokB", "$id_provider": "xiaomi"}).
				AppendMany(map[string]any{"$webpush": map[string]any{"endpoint": "https://push.example.com/x"}, "$pushvendor": "vapid"}).
				Append("$slack", map[string]any{"user_id": "U123", "access_token": "xoxb-1"}).
				Append("$ms_teams", map[string]any{"user_id": "29:abc"}).
				Remove("$sms", "+15555550100")
		},
		// node 1.10.0 does not know "$id_provider": it skipped the key with a warning and sent
		// the default "fcm". This project's provider key is $id_provider, so xiaomi is kept.
		sdkDiff: map[int]string{2: `{"$append":{"$androidpush":"tokB","$id_provider":"xiaomi"}}`},
	},
	{
		// The ops node kept; its skipped keys and languages are rejections here (see the
		// bad-input table). "  spaced_key  " is trimmed as in the SDK.
		name: "single_reserved_and_info_warnings",
		message: `{"distinct_id":"user_warn_1","operations":[
			{"set":{"  spaced_key  ":"value"}},
			{"set_timezone":"UTC"},
			{"set_preferred_language":"fr"},
			{"set":{"ok_key":"ok"}}]}`,
		build: func() *Mutation {
			return NewMutation("user_warn_1").Set("  spaced_key  ", "value").SetTimezone("UTC").
				SetPreferredLanguage("fr").Set("ok_key", "ok")
		},
	},
	{
		name:    "single_no_operations",
		message: `{"distinct_id":"user_no_ops","operations":[]}`,
		build:   func() *Mutation { return NewMutation("user_no_ops") },
	},
	{
		name:    "single_server_500",
		message: `{"distinct_id":"user__force_status_500","operations":[{"add_email":"c@example.com"}]}`,
		build:   func() *Mutation { return NewMutation("user__force_status_500").AddEmail("c@example.com") },
	},
}

func TestVectorsV1MessageAndBuilder(t *testing.T) {
	single, _ := loadCapture(t)
	for _, tc := range vectorCases {
		t.Run(tc.name, func(t *testing.T) {
			body, ok := single[tc.name]
			if !ok {
				t.Fatalf("case %s is not in the capture", tc.name)
			}
			want := sdkOps(t, body)
			for i, w := range tc.sdkDiff {
				want[i] = w
			}
			ev, err := decodeWith([]byte(tc.message), testOrigin, testOpts)
			if err != nil {
				t.Fatalf("v1 message rejected: %v", err)
			}
			got := eventOps(t, ev.Body)
			if len(got) != len(want) {
				t.Fatalf("v1 message: %d operations, the SDK sent %d\n got %s", len(got), len(want), got)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("v1 message op %d:\n got %s\nwant %s", i, got[i], want[i])
				}
			}

			// The builder: Go maps have no order, so compare values, not bytes.
			m := tc.build()
			msg, err := json.Marshal(m)
			if err != nil {
				t.Fatalf("builder: %v", err)
			}
			ev2, err := decodeWith(msg, testOrigin, testOpts)
			if err != nil {
				t.Fatalf("builder message rejected: %v\n%s", err, msg)
			}
			got2 := eventOps(t, ev2.Body)
			if len(got2) != len(want) {
				t.Fatalf("builder: %d operations, the SDK sent %d", len(got2), len(want))
			}
			for i := range want {
				var g, w any
				_ = json.Unmarshal([]byte(got2[i]), &g)
				_ = json.Unmarshal([]byte(want[i]), &w)
				if !reflect.DeepEqual(g, w) {
					t.Errorf("builder op %d:\n got %s\nwant %s", i, got2[i], want[i])
				}
			}
		})
	}
}

// TestVectorsPassThrough feeds each event the SDK sent back in as a message: the worker must
// send the same bytes (env, $insert_id, $time, key order kept; provider key renamed), or
// reject the events the SDK should have refused (python/go rules).
func TestVectorsPassThrough(t *testing.T) {
	single, bulk := loadCapture(t)
	rejected := map[string]string{
		"single_err_email_embedded_space":  `$user_operations[0].$append.$email: "x y@example.com" is not a valid email`,
		"single_err_slack_empty_object":    `$user_operations[0].$append.$slack: must be a non-empty object, got {}`,
		"single_err_ms_teams_empty_object": `$user_operations[0].$append.$ms_teams: must be a non-empty object, got {}`,
	}
	var events []string
	var names []string
	for name, body := range single {
		events, names = append(events, body), append(names, name)
	}
	for i, b := range bulk {
		var arr []json.RawMessage
		if err := json.Unmarshal([]byte(b), &arr); err != nil {
			t.Fatal(err)
		}
		for j, ev := range arr {
			events, names = append(events, string(ev)), append(names, "bulk"+string(rune('0'+i))+"/"+string(rune('0'+j)))
		}
	}
	if len(events) < 10 {
		t.Fatalf("only %d events in the capture", len(events))
	}
	for i, body := range events {
		t.Run(names[i], func(t *testing.T) {
			ev, err := decodeWith([]byte(body), Origin{Topic: "t"}, testOpts)
			if wantErr, ok := rejected[names[i]]; ok {
				if err == nil || err.Error() != wantErr {
					t.Fatalf("got error %v, want %s", err, wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			want := strings.ReplaceAll(body, `"$pushvendor":`, `"$id_provider":`)
			if string(ev.Body) != want {
				t.Errorf("body differs\n got %s\nwant %s", ev.Body, want)
			}
			if len(ev.Body) > MaxEventBytes {
				t.Errorf("body is %d bytes", len(ev.Body))
			}
		})
	}
}
