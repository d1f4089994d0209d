// Command gen writes the demo's sample profile history (deploy/demo/sample-history.jsonl): one
// mutation message (schema v1) per line, for a few dozen users over a year, using every operation
// of the seed, with a few bad messages among them. It is deterministic: the same flags give the
// same file, and files made with different flags (or -id-prefix) have event_ids that cannot
// collide, since every id carries the flags. -size pads every good message with set operations
// to at least that many bytes (the benchmark's large-record scenario).
//
//	go run ./deploy/demo/gen -n 5000 -users 40 > deploy/demo/sample-history.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

type op map[string]any

func main() {
	n := flag.Int("n", 5000, "messages to write")
	users := flag.Int("users", 40, "distinct users")
	seed := flag.Uint64("seed", 42, "random seed")
	size := flag.Int("size", 0, "pad each good message with set operations to at least this many bytes (at most 9000)")
	idPrefix := flag.String("id-prefix", "", `event_id prefix (default: "sample-s<seed>-n<n>-u<users>-", so files generated with other flags never share an id, and the API never deduplicates one file's records against another's)`)
	flag.Parse()
	if *size < 0 || *size > 9000 {
		fmt.Fprintf(os.Stderr, "gen: -size %d: must be 0 to 9000 (the event must stay under the 10240-byte limit)\n", *size)
		os.Exit(2)
	}
	if *idPrefix == "" {
		*idPrefix = fmt.Sprintf("sample-s%d-n%d-u%d-", *seed, *n, *users)
		if *size > 0 {
			*idPrefix = fmt.Sprintf("sample-s%d-n%d-u%d-z%d-", *seed, *n, *users, *size)
		}
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	generate(out, history{n: *n, users: *users, seed: *seed, idPrefix: *idPrefix, size: *size})
}

// history is what generate writes: n messages of users users drawn from seed, with event_ids
// idPrefix + index, each good one padded to at least size bytes.
type history struct {
	n, users int
	seed     uint64
	idPrefix string
	size     int
}

// generate writes h.
func generate(out io.Writer, h history) {
	n, users, seed, idPrefix := h.n, h.users, h.seed, h.idPrefix
	rng := rand.New(rand.NewPCG(seed, seed))
	start := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	step := 365 * 24 * time.Hour / time.Duration(n)
	bad := badMessages()
	every := max(1, n/len(bad)) // spread the bad messages over the history
	for i := range n {
		if i%every == every/2 && len(bad) > 0 {
			fmt.Fprintln(out, bad[0])
			bad = bad[1:]
			continue
		}
		u := rng.IntN(users)
		msg := map[string]any{
			"distinct_id": fmt.Sprintf("user-%03d", u),
			"event_id":    fmt.Sprintf("%s%06d", idPrefix, i),
			"time":        start.Add(time.Duration(i) * step).Format(time.RFC3339),
			"operations":  operations(rng, u, i),
		}
		line, err := json.Marshal(msg)
		if err != nil {
			panic(err)
		}
		if len(line) < h.size {
			line = pad(msg, line, h.size, i)
		}
		fmt.Fprintln(out, string(line))
	}
}

// operations picks one to three operations; every seed operation appears with some weight.
func operations(rng *rand.Rand, u, i int) []op {
	email := fmt.Sprintf("user%03d.%d@example.com", u, rng.IntN(3))
	phone := fmt.Sprintf("+1555%07d", u*1000+rng.IntN(3))
	all := []func() op{
		func() op { return op{"add_email": email} },
		func() op { return op{"remove_email": email} },
		func() op { return op{"add_sms": phone} },
		func() op { return op{"remove_sms": phone} },
		func() op { return op{"add_whatsapp": phone} },
		func() op { return op{"remove_whatsapp": phone} },
		func() op { return op{"add_androidpush": fmt.Sprintf("fcm-token-%d-%d", u, rng.IntN(2))} },
		func() op {
			return op{"add_androidpush": map[string]any{"token": fmt.Sprintf("xiaomi-token-%d", u), "provider": "xiaomi"}}
		},
		func() op { return op{"remove_androidpush": fmt.Sprintf("fcm-token-%d-%d", u, rng.IntN(2))} },
		func() op { return op{"add_iospush": fmt.Sprintf("apns-token-%d", u)} },
		func() op { return op{"remove_iospush": fmt.Sprintf("apns-token-%d", u)} },
		func() op {
			return op{"add_webpush": map[string]any{"endpoint": fmt.Sprintf("https://push.example.com/%d", u),
				"keys": map[string]any{"p256dh": "BNc-key", "auth": "auth-secret"}}}
		},
		func() op {
			return op{"remove_webpush": map[string]any{"endpoint": fmt.Sprintf("https://push.example.com/%d", u),
				"keys": map[string]any{"p256dh": "BNc-key", "auth": "auth-secret"}}}
		},
		func() op { return op{"add_slack": map[string]any{"email": email, "access_token": "xoxb-XXXXXXXX"}} },
		func() op {
			return op{"add_slack": map[string]any{"user_id": fmt.Sprintf("U03%06d", u), "access_token": "xoxb-XXXXXXXX"}}
		},
		func() op {
			return op{"add_slack": map[string]any{"incoming_webhook": map[string]any{"url": "https://hooks.slack.com/services/T0/B0/X"}}}
		},
		func() op { return op{"remove_slack": map[string]any{"email": email, "access_token": "xoxb-XXXXXXXX"}} },
		func() op {
			return op{"add_ms_teams": map[string]any{"tenant_id": "c1981ab2-9aaf", "service_url": "https://smba.trafficmanager.net/amer",
				"conversation_id": fmt.Sprintf("19:conv-%d", u)}}
		},
		func() op {
			return op{"remove_ms_teams": map[string]any{"tenant_id": "c1981ab2-9aaf", "service_url": "https://smba.trafficmanager.net/amer",
				"conversation_id": fmt.Sprintf("19:conv-%d", u)}}
		},
		func() op { return op{"unset": "$sms"} },
		func() op { return op{"unset": []string{"wishlist", "cart"}} },
		func() op { return op{"set_preferred_language": []string{"en", "fr", "de", "hi", "es"}[rng.IntN(5)]} },
		func() op {
			return op{"set_timezone": []string{"America/New_York", "Europe/Paris", "Asia/Kolkata"}[rng.IntN(3)]}
		},
		func() op {
			return op{"set": map[string]any{"plan": []string{"free", "pro", "team"}[rng.IntN(3)], "seq": i}}
		},
		func() op {
			return op{"set_once": map[string]any{"first_seen": fmt.Sprintf("2025-%02d-01", 1+rng.IntN(12))}}
		},
		func() op { return op{"increment": map[string]any{"logins": 1 + rng.IntN(3)}} },
		func() op {
			return op{"append": map[string]any{"wishlist": []string{"iphone", "airpods", "watch"}[rng.IntN(3)]}}
		},
		func() op {
			return op{"remove": map[string]any{"wishlist": []string{"iphone", "airpods", "watch"}[rng.IntN(3)]}}
		},
	}
	k := 1 + rng.IntN(3)
	ops := make([]op, 0, k)
	for range k {
		ops = append(ops, all[rng.IntN(len(all))]())
	}
	return ops
}

// badMessages are what a careless upstream might publish; each must be dead-lettered with a reason.
func badMessages() []string {
	return []string{
		`{"distinct_id": "user-001", "operations": [{"add_email": "not an email"}]}`,
		`{"distinct_id": "user-002", "operations": [{"set": {"$plan": "pro"}}]}`,
		`{"distinct_id": "user-003", "operations": [{"set_preferred_language": "en-US"}]}`,
		`{"distinct_id": "", "operations": [{"set": {"plan": "pro"}}]}`,
		`{"distinct_id": "user-004", "operations": [{"frobnicate": {"x": 1}}]}`,
		`{"distinct_id": "user-005", "operations": [{"add_email": "a@example.com", "add_sms": "+15555550100"}]}`,
		`{"distinct_id": "user-006", "operations": [{"add_sms": "555-0100"}]}`,
		`{"distinct_id": "user-007", "operations": [{"set": {"ss_internal": 1}}]}`,
		`{"distinct_id": "user-008", "operations": [{"add_androidpush": {"token": "t", "provider": "apns"}}]}`,
		`not json at all`,
		`{"distinct_id": "user-009", "operations": [{"set": {"bio": "` + strings.Repeat("x", 11000) + `"}}]}`,
		`{"distinct_id": "user-010", "operations": [{"add_slack": {}}]}`,
	}
}

// pad adds set operations of nested attributes to msg until its JSON is at least size bytes.
func pad(msg map[string]any, line []byte, size, i int) []byte {
	ops := msg["operations"].([]op)
	for k := 0; len(line) < size; {
		for short := size - len(line); short > 0; k++ {
			o := op{"set": map[string]any{fmt.Sprintf("attr_%03d", k): map[string]any{
				"label": fmt.Sprintf("attribute %d of record %d", k, i), "score": k * 7, "tags": []string{"alpha", "beta", "gamma"},
				"nested": map[string]any{"enabled": k%2 == 0, "note": strings.Repeat("x", 40)},
			}}}
			b, err := json.Marshal(o)
			if err != nil {
				panic(err)
			}
			ops = append(ops, o)
			short -= len(b) + 1
		}
		msg["operations"] = ops
		var err error
		if line, err = json.Marshal(msg); err != nil {
			panic(err)
		}
	}
	return line
}
