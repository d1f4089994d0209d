package profile

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Mutation builds a v1 message for one user, the way a service would call the SDK's user
// methods (user.add_email, user.set, ...). Each method adds one operation and checks it with the
// same rules Decode applies; errors accumulate and are returned by Validate and MarshalJSON, so a
// chain of calls needs one check at the end. A Mutation is owned by one goroutine.
//
//	m := profile.NewMutation("u-42").AddEmail("a@example.com").Set("plan", "pro")
//	if err := m.Validate(); err != nil { ... }
type Mutation struct {
	distinctID string
	eventID    string
	time       time.Time
	ops        [][]byte // each a v1 operation object, {"name":value}
	errs       []*Error
}

// NewMutation starts a mutation of the user distinctID (trimmed; it must not be empty).
func NewMutation(distinctID string) *Mutation { return &Mutation{distinctID: distinctID} }

// DistinctID returns the user's id, trimmed: the Kafka key the publisher uses.
func (m *Mutation) DistinctID() string { return strings.TrimFunc(m.distinctID, isSpace) }

// EventID returns the idempotency key set by WithEventID, or "".
func (m *Mutation) EventID() string { return m.eventID }

// Len returns the number of operations added.
func (m *Mutation) Len() int { return len(m.ops) }

// WithEventID sets the message's event_id, which becomes the event's $insert_id: sending the
// same event_id twice applies the change once.
func (m *Mutation) WithEventID(id string) *Mutation { m.eventID = id; return m }

// WithTime sets the time of the change (sent to the millisecond); without it the worker uses
// the Kafka record's timestamp.
func (m *Mutation) WithTime(t time.Time) *Mutation { m.time = t; return m }

// AddEmail adds an email address to the user (user.add_email).
func (m *Mutation) AddEmail(email string) *Mutation { return m.add("add_email", email) }

// RemoveEmail removes an email address from the user (user.remove_email).
func (m *Mutation) RemoveEmail(email string) *Mutation { return m.add("remove_email", email) }

// AddSMS adds a mobile number for SMS, "+" and country code first (user.add_sms).
func (m *Mutation) AddSMS(mobile string) *Mutation { return m.add("add_sms", mobile) }

// RemoveSMS removes a mobile number for SMS (user.remove_sms).
func (m *Mutation) RemoveSMS(mobile string) *Mutation { return m.add("remove_sms", mobile) }

// AddWhatsApp adds a WhatsApp number, "+" and country code first (user.add_whatsapp).
func (m *Mutation) AddWhatsApp(mobile string) *Mutation { return m.add("add_whatsapp", mobile) }

// RemoveWhatsApp removes a WhatsApp number (user.remove_whatsapp).
func (m *Mutation) RemoveWhatsApp(mobile string) *Mutation { return m.add("remove_whatsapp", mobile) }

// AddAndroidPush adds an Android push token (user.add_androidpush). provider is "fcm" (also
// when ""), "xiaomi" or "oppo".
func (m *Mutation) AddAndroidPush(token, provider string) *Mutation {
	return m.add("add_androidpush", pushToken(token, provider))
}

// RemoveAndroidPush removes an Android push token (user.remove_androidpush).
func (m *Mutation) RemoveAndroidPush(token, provider string) *Mutation {
	return m.add("remove_androidpush", pushToken(token, provider))
}

// AddIOSPush adds an APNs token (user.add_iospush).
func (m *Mutation) AddIOSPush(token string) *Mutation { return m.add("add_iospush", token) }

// RemoveIOSPush removes an APNs token (user.remove_iospush).
func (m *Mutation) RemoveIOSPush(token string) *Mutation { return m.add("remove_iospush", token) }

// AddWebPush adds a web push (VAPID) subscription object (user.add_webpush).
func (m *Mutation) AddWebPush(subscription map[string]any) *Mutation {
	return m.add("add_webpush", subscription)
}

// RemoveWebPush removes a web push subscription (user.remove_webpush).
func (m *Mutation) RemoveWebPush(subscription map[string]any) *Mutation {
	return m.add("remove_webpush", subscription)
}

// AddSlack adds a Slack identity (user.add_slack): {"email", "access_token"}, {"user_id",
// "access_token"}, {"channel_id", "access_token"} or {"incoming_webhook": {"url"}}.
func (m *Mutation) AddSlack(v map[string]any) *Mutation { return m.add("add_slack", v) }

// RemoveSlack removes a Slack identity (user.remove_slack).
func (m *Mutation) RemoveSlack(v map[string]any) *Mutation { return m.add("remove_slack", v) }

// AddMSTeams adds a Microsoft Teams identity (user.add_ms_teams): {"tenant_id", "service_url",
// "conversation_id" or "user_id"} or {"incoming_webhook": {"url"}}.
func (m *Mutation) AddMSTeams(v map[string]any) *Mutation { return m.add("add_ms_teams", v) }

// RemoveMSTeams removes a Microsoft Teams identity (user.remove_ms_teams).
func (m *Mutation) RemoveMSTeams(v map[string]any) *Mutation { return m.add("remove_ms_teams", v) }

// Unset deletes properties, or all of a channel's values with "$email", "$sms", "$whatsapp",
// "$androidpush", "$iospush", "$webpush", "$slack" or "$ms_teams" (user.unset).
func (m *Mutation) Unset(keys ...string) *Mutation {
	if keys == nil {
		keys = []string{}
	}
	return m.add("unset", keys)
}

// SetPreferredLanguage sets the user's language, an ISO 639-1 code such as "en"
// (user.set_preferred_language); see LanguageCodes.
func (m *Mutation) SetPreferredLanguage(code string) *Mutation {
	return m.add("set_preferred_language", code)
}

// SetTimezone sets the user's IANA time zone, e.g. "America/New_York" (user.set_timezone).
func (m *Mutation) SetTimezone(tz string) *Mutation { return m.add("set_timezone", tz) }

// Set sets one property (user.set(key, value)). Keys must not start with "$" or "ss_".
func (m *Mutation) Set(key string, value any) *Mutation { return m.addKV("set", key, value) }

// SetMany sets several properties in one operation (user.set(dict)); keys are sent sorted.
func (m *Mutation) SetMany(props map[string]any) *Mutation { return m.add("set", props) }

// SetOnce sets a property unless the user already has it (user.set_once).
func (m *Mutation) SetOnce(key string, value any) *Mutation { return m.addKV("set_once", key, value) }

// SetOnceMany is SetOnce for several properties in one operation.
func (m *Mutation) SetOnceMany(props map[string]any) *Mutation { return m.add("set_once", props) }

// Increment adds by to a numeric property, from zero if absent (user.increment).
func (m *Mutation) Increment(key string, by float64) *Mutation {
	return m.addKV("increment", key, by)
}

// IncrementMany is Increment for several properties in one operation.
func (m *Mutation) IncrementMany(by map[string]float64) *Mutation { return m.add("increment", by) }

// Append appends value to the list property key (user.append). A channel key ("$email", ...)
// adds to that channel, as in the SDK.
func (m *Mutation) Append(key string, value any) *Mutation { return m.addKV("append", key, value) }

// AppendMany is Append for several keys in one operation.
func (m *Mutation) AppendMany(kv map[string]any) *Mutation { return m.add("append", kv) }

// Remove removes value from the list property key (user.remove). A channel key removes from
// that channel, as in the SDK.
func (m *Mutation) Remove(key string, value any) *Mutation { return m.addKV("remove", key, value) }

// RemoveMany is Remove for several keys in one operation.
func (m *Mutation) RemoveMany(kv map[string]any) *Mutation { return m.add("remove", kv) }

func pushToken(token, provider string) any {
	if provider == "" {
		return token
	}
	return struct {
		Token    string `json:"token"`
		Provider string `json:"provider"`
	}{token, provider}
}

// encode marshals v like the worker writes JSON: compact, HTML characters not escaped.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (m *Mutation) addKV(name, key string, value any) *Mutation {
	v, err := encode(value)
	if err != nil {
		return m.fail(name, err)
	}
	obj := appendString([]byte{'{'}, strings.ToValidUTF8(key, "\uFFFD"))
	obj = append(obj, ':')
	obj = append(append(obj, v...), '}')
	return m.addRaw(name, obj)
}

func (m *Mutation) add(name string, value any) *Mutation {
	v, err := encode(value)
	if err != nil {
		return m.fail(name, err)
	}
	return m.addRaw(name, v)
}

func (m *Mutation) fail(name string, err error) *Mutation {
	l := loc{list: "operations", idx: len(m.ops), name: name}
	m.errs = append(m.errs, l.err("value cannot be encoded as JSON: "+err.Error()))
	m.ops = append(m.ops, []byte(`{"`+name+`":null}`))
	return m
}

// addRaw adds the operation {name: value} and checks it with Decode's rules.
func (m *Mutation) addRaw(name string, value []byte) *Mutation {
	op := make([]byte, 0, len(name)+len(value)+5)
	op = append(op, `{"`...)
	op = append(op, name...)
	op = append(op, `":`...)
	op = append(append(op, value...), '}')
	idx := len(m.ops)
	m.ops = append(m.ops, op)
	d := decoderPool.Get().(*decoder)
	defer d.release()
	if e := checkJSONIndex(op, &d.ix); e != nil {
		m.errs = append(m.errs, (loc{list: "operations", idx: idx, name: name}).err(e.Msg))
		return m
	}
	d.data, d.buf = op, d.buf[:0]
	if e := d.v1Op(idx, 0, len(op)); e != nil {
		m.errs = append(m.errs, e)
	}
	return m
}

// Errors returns every problem found so far, in the order of the calls.
func (m *Mutation) Errors() []*Error {
	var errs []*Error
	if e := m.checkMessage(); e != nil {
		errs = append(errs, e)
	}
	return append(errs, m.errs...)
}

func (m *Mutation) checkMessage() *Error {
	if strings.TrimFunc(m.distinctID, isSpace) == "" {
		return messageErr("distinct_id", "must be a non-empty string, got "+quote([]byte(m.distinctID)))
	}
	if m.eventID != "" {
		if _, e := eventID(appendString(nil, strings.ToValidUTF8(m.eventID, "\uFFFD")), "event_id"); e != nil {
			return e
		}
	}
	if !m.time.IsZero() {
		if ms := m.time.UnixMilli(); ms < 0 || ms > maxTimeMillis {
			return messageErr("time", strconv.Quote(m.time.Format(time.RFC3339Nano))+" is out of range: it must lie between 1970 and 9999")
		}
	}
	return nil
}

// Validate returns the first problem (a *Error) of the mutation, or nil. It does not check the
// size limit, which depends on the worker's workspace key and user agent.
func (m *Mutation) Validate() error {
	if e := m.checkMessage(); e != nil {
		return e
	}
	if len(m.errs) > 0 {
		return m.errs[0]
	}
	return nil
}

// MarshalJSON returns the v1 message, or the error Validate returns.
func (m *Mutation) MarshalJSON() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m.appendJSON(nil, m.eventID), nil
}

// AppendJSON appends the v1 message to b using eventID as its event_id when the mutation has
// none (eventID may be ""). The publisher uses it to give every record an idempotency key.
func (m *Mutation) AppendJSON(b []byte, eventID string) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return b, err
	}
	if m.eventID != "" {
		eventID = m.eventID
	}
	return m.appendJSON(b, eventID), nil
}

func (m *Mutation) appendJSON(b []byte, eventID string) []byte {
	b = append(b, `{"distinct_id":`...)
	b = appendString(b, strings.ToValidUTF8(m.distinctID, "\uFFFD"))
	b = append(b, `,"operations":[`...)
	for i, op := range m.ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, op...)
	}
	b = append(b, ']')
	if eventID != "" {
		b = append(b, `,"event_id":`...)
		b = appendString(b, strings.ToValidUTF8(eventID, "\uFFFD"))
	}
	if !m.time.IsZero() {
		b = append(b, `,"time":`...)
		b = strconv.AppendInt(b, m.time.UnixMilli(), 10)
	}
	return append(b, '}')
}
