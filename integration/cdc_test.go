//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// cdc is a PostgreSQL database of its own and a Debezium connector streaming its users table,
// from the systems deploy/cdc/cdc.sh runs (`make test-cdc`).
type cdc struct {
	t                 *testing.T
	psql, port        string
	db, slot, connect string
	topic             string
}

// newCDC creates a fresh database with a users table (REPLICA IDENTITY FULL) and the rows of
// seed, then a Debezium connector (pgoutput, JSON with the embedded schema) whose snapshot
// reads them, and waits for its topic. Both are removed when t ends.
func newCDC(t *testing.T, brokers []string, seed string) *cdc {
	t.Helper()
	connectURL, psql := os.Getenv("CDC_CONNECT_URL"), os.Getenv("CDC_PSQL")
	if connectURL == "" || psql == "" || os.Getenv("CDC_PG_PORT") == "" {
		t.Skip("needs PostgreSQL and Kafka Connect with Debezium: run `make test-cdc` (deploy/cdc/cdc.sh with ...)")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	c := &cdc{t: t, psql: psql, port: os.Getenv("CDC_PG_PORT"), db: "cdc_" + suffix, slot: "slot_" + suffix, connect: connectURL,
		topic: "cdc" + suffix + ".public.users"}
	c.sql("postgres", "CREATE DATABASE "+c.db)
	c.sql(c.db, `CREATE TABLE users (id int PRIMARY KEY, email text, phone text, lang text, plan text, score int, fcm_token text);
		ALTER TABLE users REPLICA IDENTITY FULL;`+seed)
	cfg := map[string]string{
		"connector.class": "io.debezium.connector.postgresql.PostgresConnector", "plugin.name": "pgoutput",
		"database.hostname": "127.0.0.1", "database.port": c.port, "database.user": "postgres", "database.password": "unused",
		"database.dbname": c.db, "topic.prefix": "cdc" + suffix, "table.include.list": "public.users",
		"slot.name": c.slot, "publication.name": "pub_" + suffix, "publication.autocreate.mode": "filtered",
		"topic.creation.default.replication.factor": "1", "topic.creation.default.partitions": "3",
		"key.converter": "org.apache.kafka.connect.json.JsonConverter", "key.converter.schemas.enable": "true",
		"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "true",
	}
	body, _ := json.Marshal(cfg)
	c.rest(http.MethodPut, "/connectors/"+c.db+"/config", body)
	t.Cleanup(func() {
		c.rest(http.MethodDelete, "/connectors/"+c.db, nil)
		// The slot stays active until the task has stopped; drop it and the database then.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := c.query("postgres", "SELECT pg_drop_replication_slot('"+c.slot+"')"); err == nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		_, _ = c.query("postgres", "DROP DATABASE IF EXISTS "+c.db+" WITH (FORCE)")
	})
	Eventually(t, 2*time.Minute, "the connector's topic "+c.topic, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		md, err := Client(brokers).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.topic}})
		return err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) == 3
	})
	return c
}

func (c *cdc) query(db, sql string) (string, error) {
	cmd := exec.Command(c.psql, "-h", "127.0.0.1", "-p", c.port, "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1",
		"-q", "-A", "-t", "-F", "|", "-c", sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql: %v: %s", err, out)
	}
	return string(out), nil
}

func (c *cdc) sql(db, sql string) string {
	c.t.Helper()
	out, err := c.query(db, sql)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cdc) rest(method, path string, body []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.connect+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Errorf("Kafka Connect %s %s: %v", method, path, err)
		return
	}
	defer res.Body.Close()
	var msg bytes.Buffer
	_, _ = msg.ReadFrom(res.Body)
	if res.StatusCode >= 300 {
		c.t.Errorf("Kafka Connect %s %s: %s %s", method, path, res.Status, msg.String())
	}
}

// row is a users row as the mapping sees it; "" is NULL.
type row struct{ email, phone, lang, plan, score, token string }

// rows reads the table.
func (c *cdc) rows() map[string]row {
	c.t.Helper()
	out := c.sql(c.db, "SELECT id, coalesce(email,''), coalesce(phone,''), coalesce(lang,''), coalesce(plan,''), coalesce(score::text,''), coalesce(fcm_token,'') FROM users ORDER BY id")
	rs := map[string]row{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) == 7 {
			rs[f[0]] = row{f[1], f[2], f[3], f[4], f[5], f[6]}
		}
	}
	return rs
}

const cdcMapping = `distinct_id: id
channels:
  email: email
  sms: phone
  androidpush: {field: fcm_token, provider: fcm}
preferred_language: lang
properties:
  exclude: [ignored]
`

// mismatch says how a profile differs from the row it mirrors through cdcMapping (a deleted row:
// present false), or "" when it matches.
func mismatch(p hubsim.Profile, found bool, r row, present bool) string {
	if !found {
		if present {
			return "no profile"
		}
		return ""
	}
	want := map[string][]string{}
	if present {
		for k, v := range map[string]string{"$email": r.email, "$sms": r.phone, "$androidpush": r.token} {
			if v != "" {
				want[k] = []string{v}
			}
		}
	}
	got := map[string][]string{}
	for k, cs := range p.Channels {
		for _, ch := range cs {
			var s string
			_ = json.Unmarshal(ch.Value, &s)
			if k == "$androidpush" && ch.Provider != "fcm" {
				s += " provider " + ch.Provider
			}
			got[k] = append(got[k], s)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Sprintf("channels %v, want %v", got, want)
	}
	if lang := map[bool]string{true: r.lang}[present]; p.PreferredLanguage != lang {
		return fmt.Sprintf("preferred language %q, want %q", p.PreferredLanguage, lang)
	}
	plan, _ := p.Properties["plan"].(string)
	score := ""
	if f, ok := p.Properties["score"].(float64); ok {
		score = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if !present {
		r = row{}
	}
	if plan != r.plan || score != r.score || len(p.Properties) > 2 {
		return fmt.Sprintf("properties %v, want plan %q score %q and nothing else", p.Properties, r.plan, r.score)
	}
	return ""
}

// TestDebeziumUsersTableSyncsToProfiles is issue 11's end-to-end proof with the real systems:
// PostgreSQL 15 → Debezium 3.6.1 (pgoutput) on Kafka Connect 4.1 → Kafka → profile-ingest →
// hubsim. Users are inserted (before and after the snapshot), emails and phones changed,
// properties nulled, users deleted, a primary key changed; the worker is killed mid-stream and
// restarted. At the end every profile matches its row through the mapping, and a deleted
// user's profile holds no channel and no mapped property.
func TestDebeziumUsersTableSyncsToProfiles(t *testing.T) {
	brokers := Brokers(t)
	var seed strings.Builder
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&seed, "INSERT INTO users VALUES (%d, 'u%d@example.com', '+1415555%04d', 'en', 'free', %d, 'tok-%d');", i, i, i, i, i)
	}
	c := newCDC(t, brokers, seed.String())
	hub, url := newInProcessHubsim(t, hubsim.Faults{})
	dir := t.TempDir()
	mf := filepath.Join(dir, "mapping.yaml")
	cf := filepath.Join(dir, "config.yaml")
	group := UniqueName(t, "g")
	conf := fmt.Sprintf("kafka:\n  brokers: [%q]\n  topics: [%q]\n  group_id: %q\n  formats:\n    %s: {format: debezium, mapping: %q}\n"+
		"suprsend:\n  base_url: %q\n  workspace_key: %q\ndlq:\n  topic: %q\nbatch:\n  linger: 20ms\nconsumer:\n  commit_interval: 200ms\nobservability:\n  listen: \"\"\n",
		brokers[0], c.topic, group, c.topic, mf, url, testKey, c.topic+".dlq")
	for path, body := range map[string]string{mf: cdcMapping, cf: conf} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin := Binary(t, "profile-ingest")
	run := func() *Process { return Start(t, workerEnv, bin, "run", "--config", cf, "--log-format", "json") }

	deleted := map[string]bool{}
	first := run()
	Eventually(t, 3*time.Minute, "the snapshot applied", func() bool {
		p, ok := hub.Profile("20")
		return ok && len(p.Channels["$androidpush"]) == 1
	})
	c.sql(c.db, `INSERT INTO users SELECT i, 'u'||i||'@example.com', NULL, 'de', 'pro', NULL, NULL FROM generate_series(21, 40) i;
		UPDATE users SET email = 'new'||id||'@example.com' WHERE id <= 10;
		UPDATE users SET phone = '+1415556'||lpad(id::text, 4, '0') WHERE id BETWEEN 11 AND 15;
		UPDATE users SET plan = NULL, score = NULL WHERE id BETWEEN 16 AND 18;
		DELETE FROM users WHERE id = 19;
		UPDATE users SET lang = lang WHERE id = 20;`)
	deleted["19"] = true
	Eventually(t, 3*time.Minute, "some of the changes applied", func() bool {
		p, ok := hub.Profile("5")
		return ok && slices.ContainsFunc(p.Channels["$email"], func(ch hubsim.Channel) bool { return string(ch.Value) == `"new5@example.com"` })
	})
	first.Signal(syscall.SIGKILL)
	first.Wait(30 * time.Second)

	// While the worker is down, the table keeps changing.
	c.sql(c.db, `UPDATE users SET email = 'again'||id||'@example.com', phone = '+1415557'||lpad(id::text, 4, '0') WHERE id BETWEEN 21 AND 30;
		UPDATE users SET email = NULL, fcm_token = 'tok-new-'||id WHERE id BETWEEN 1 AND 3;
		UPDATE users SET lang = 'fr', plan = 'team' WHERE id BETWEEN 31 AND 35;
		DELETE FROM users WHERE id IN (36, 37);
		UPDATE users SET id = 140 WHERE id = 40;`)
	deleted["36"], deleted["37"], deleted["40"] = true, true, true
	second := run()
	Eventually(t, 3*time.Minute, "every profile matches the users table through the mapping", func() bool {
		rows := c.rows()
		for id := range deleted {
			p, ok := hub.Profile(id)
			if m := mismatch(p, ok, row{}, false); m != "" {
				t.Logf("deleted user %s: %s", id, m)
				return false
			}
		}
		for id, r := range rows {
			p, ok := hub.Profile(id)
			if m := mismatch(p, ok, r, true); m != "" {
				t.Logf("user %s: %s", id, m)
				return false
			}
		}
		return len(rows) == 37
	})
	second.Signal(syscall.SIGTERM)
	if code := second.Wait(time.Minute); code != 0 {
		t.Fatalf("worker exited %d after SIGTERM, want 0", code)
	}
	out := first.Output() + second.Output()
	if strings.Contains(out, "record dead-lettered") {
		t.Errorf("a change was dead-lettered:\n%s", lastLines(out, 20))
	}
	if !strings.Contains(second.Output(), ", skipped ") {
		t.Errorf("the summary counts no skipped record (tombstones, the no-op update): %s", lastLines(second.Output(), 3))
	}
	t.Logf("hubsim %+v", hub.Stats())
}
