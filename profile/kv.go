package profile

import "bytes"

// kvObject appends the object of a set, set_once, increment ($add), append or remove op: its
// keys trimmed and in the order given, its values compacted. For append and remove, channel
// keys are routed to the channel's validation like the SDK's add_*/remove_*, with the provider
// taken from a sibling "$id_provider" (or "$pushvendor") key.
func (d *decoder) kvObject(l loc, kind opKind, vs, ve int) *Error {
	val := d.data[vs:ve]
	if val[0] != '{' {
		return l.err("must be an object of key to value, got " + kindName(val))
	}
	ms := d.members[:0]
	var seen map[string]struct{}
	it := newObjIter(d.data, &d.ix, vs)
	for k, mvs, mve, ok := it.next(); ok; k, mvs, mve, ok = it.next() {
		key := trim(unquote(k))
		if len(key) == 0 {
			return l.err("key " + quote(unquote(k)) + " is empty")
		}
		if seen == nil && len(ms) < 16 {
			for _, m := range ms {
				if bytes.Equal(m.key, key) {
					return l.withKey(key).err("duplicate key")
				}
			}
			if len(ms) == 15 {
				seen = make(map[string]struct{}, 32)
				for _, m := range ms {
					seen[string(m.key)] = struct{}{}
				}
				seen[string(key)] = struct{}{}
			}
		} else {
			if _, dup := seen[string(key)]; dup {
				return l.withKey(key).err("duplicate key")
			}
			seen[string(key)] = struct{}{}
		}
		ms = append(ms, member{key: key, vs: mvs, ve: mve})
	}
	d.members = ms[:0] // keep what append grew; kvObject does not nest
	if len(ms) == 0 {
		return l.err("must not be empty: give at least one key")
	}
	channels := kind == opAppend || kind == opRemove
	prov, push := -1, -1
	if channels {
		for i, m := range ms {
			switch c := channelOf(m.key); {
			case string(m.key) == keyIDProvider || string(m.key) == keyPushVendor:
				if prov >= 0 {
					return l.withKey(m.key).err("only one of $id_provider and $pushvendor may be given")
				}
				prov = i
			case c.push():
				if push >= 0 {
					return l.withKey(m.key).err("only one of $androidpush, $iospush and $webpush per operation: they share the provider key")
				}
				push = i
			}
		}
		if prov >= 0 && push < 0 {
			return l.withKey(ms[prov].key).err("a provider is only allowed beside $androidpush, $iospush or $webpush")
		}
	}
	d.buf = append(d.buf, '{')
	first := true
	for i, m := range ms {
		if i == prov {
			continue
		}
		if !first {
			d.buf = append(d.buf, ',')
		}
		first = false
		v := d.data[m.vs:m.ve]
		ch := channelOf(m.key)
		if channels && ch != chNone {
			pvs, pve, pl := -1, -1, l
			if i == push && prov >= 0 {
				pvs, pve, pl = ms[prov].vs, ms[prov].ve, l.withKey(ms[prov].key)
			}
			if err := d.channelValue(l.withKey(m.key), pl, ch, m.vs, m.ve, pvs, pve); err != nil {
				return err
			}
			continue
		}
		if reservedPrefix(m.key) {
			return l.withKey(m.key).err(`reserved key: only the SDK's own keys may start with "$" or "ss_"`)
		}
		if kind == opSet || kind == opSetOnce || kind == opIncrement {
			if ch != chNone || string(m.key) == keyIDProvider || string(m.key) == keyPushVendor {
				return l.withKey(m.key).err("channel key not allowed here: change channels with add_*/remove_*, append/remove or unset")
			}
		}
		switch {
		case kind == opIncrement:
			if c := v[0]; c != '-' && (c < '0' || c > '9') {
				return l.withKey(m.key).err("must be a number, got " + kindName(v))
			}
		case string(m.key) == keyPreferredLanguage:
			if v[0] != '"' {
				return l.withKey(m.key).err("must be a language code string, got " + kindName(v))
			}
			if s := unquote(v); !validLanguage(s) {
				return l.withKey(m.key).err(quote(s) + " is not a supported language code (one of the 183 ISO 639-1 codes, e.g. \"en\")")
			}
		case string(m.key) == keyTimezone:
			if err := checkTimezone(l.withKey(m.key), v); err != nil {
				return err
			}
		case channels && v[0] == 'n':
			return l.withKey(m.key).err("value must not be null")
		}
		d.buf = appendString(d.buf, m.key)
		d.buf = append(d.buf, ':')
		d.buf = d.appendCompact(v)
	}
	d.buf = append(d.buf, '}')
	return nil
}
