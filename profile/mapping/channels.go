package mapping

import (
	"bytes"
	"encoding/json"
)

// channel is one mapped channel.
type channel struct {
	name          string // "email": the operations are add_email and remove_email
	field         string
	provider      string // push: fixed provider
	providerField string // push: the field that holds it
	object        bool   // webpush, slack, ms_teams: an object, or a JSON string of one
}

func (m Mapping) channelList() []channel {
	var cs []channel
	str := func(name, f string, obj bool) {
		if f != "" {
			cs = append(cs, channel{name: name, field: f, object: obj})
		}
	}
	push := func(name string, p *Push) {
		if p != nil {
			cs = append(cs, channel{name: name, field: p.Field, provider: p.Provider, providerField: p.ProviderField})
		}
	}
	str("email", m.Channels.Email, false)
	str("sms", m.Channels.SMS, false)
	str("whatsapp", m.Channels.WhatsApp, false)
	push("androidpush", m.Channels.AndroidPush)
	push("iospush", m.Channels.IOSPush)
	str("webpush", m.Channels.WebPush, true)
	str("slack", m.Channels.Slack, true)
	str("ms_teams", m.Channels.MSTeams, true)
	return cs
}

// getter reads a field of a row or a message; nil when it is missing.
type getter func(path string) json.RawMessage

// arg is the channel's operation argument in a row, and whether the row has the channel.
func (c channel) arg(get getter) (json.RawMessage, bool) {
	v := get(c.field)
	if absent(v) {
		return nil, false
	}
	switch {
	case c.object:
		return objectValue(v), true
	case c.providerField != "" || c.provider != "":
		var p json.RawMessage
		if c.providerField != "" {
			p = get(c.providerField)
		}
		return pushValue(v, p, c.provider), true
	}
	return bytes.TrimSpace(v), true
}

// same reports whether two arguments are the same channel value.
func same(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
