package profile

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rules of the validating SDKs (python 0.12.0, go 4a93ab0), see the wire-protocol notes,
// section (d). Where those SDKs skip a key or value with an "info" warning, this package
// rejects the message instead.

// langCodes is the 183 ISO 639-1 codes every SDK accepts for set_preferred_language.
const langCodes = "aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy " +
	"da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht " +
	"hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky " +
	"la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny " +
	"oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss " +
	"st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo " +
	"za zh zu"

var langTable = func() (t [26 * 26]bool) {
	for _, c := range strings.Fields(langCodes) {
		t[int(c[0]-'a')*26+int(c[1]-'a')] = true
	}
	return t
}()

// LanguageCodes returns the language codes SetPreferredLanguage accepts, in order.
func LanguageCodes() []string { return strings.Fields(langCodes) }

func validLanguage(s []byte) bool {
	return len(s) == 2 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z' &&
		langTable[int(s[0]-'a')*26+int(s[1]-'a')]
}

// Channel keys: the user's identities.
const (
	keyEmail       = "$email"
	keySMS         = "$sms"
	keyWhatsApp    = "$whatsapp"
	keyAndroidPush = "$androidpush"
	keyIOSPush     = "$iospush"
	keyWebPush     = "$webpush"
	keySlack       = "$slack"
	keyMSTeams     = "$ms_teams"

	keyIDProvider        = "$id_provider" // the provider key this project sends
	keyPushVendor        = "$pushvendor"  // its older name, accepted on input
	keyPreferredLanguage = "$preferred_language"
	keyTimezone          = "$timezone"
)

type channel uint8

const (
	chNone channel = iota
	chEmail
	chSMS
	chWhatsApp
	chAndroidPush
	chIOSPush
	chWebPush
	chSlack
	chMSTeams
)

var channelKeys = [...]string{"", keyEmail, keySMS, keyWhatsApp, keyAndroidPush, keyIOSPush, keyWebPush, keySlack, keyMSTeams}

func channelOf(key []byte) channel {
	if len(key) < 4 || key[0] != '$' {
		return chNone
	}
	for c := chEmail; c <= chMSTeams; c++ {
		if string(key) == channelKeys[c] {
			return c
		}
	}
	return chNone
}

func (c channel) push() bool { return c == chAndroidPush || c == chIOSPush || c == chWebPush }

// reservedKeys is ALL_RESERVED_KEYS of the SDKs (with both provider key names): a key in it
// may be used although it starts with "$".
var reservedKeys = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`$app_version_string $app_build_number $brand $carrier
		$manufacturer $model $os $ss_sdk_version $insert_id $time $messenger $inbox $pushvendor
		$id_provider $device_id $set $set_once $add $append $remove $unset $identify $anon_id
		$identified_id $preferred_language $timezone $notification_delivered
		$notification_dismiss $notification_clicked`) {
		reservedKeys[k] = true
	}
	for _, k := range channelKeys[1:] {
		reservedKeys[k] = true
	}
}

// reservedPrefix reports whether key (trimmed, non-empty) is refused by the SDK's prefix rule:
// not in the reserved list and starting with "$" or, in any case, "ss_".
func reservedPrefix(key []byte) bool {
	prefixed := key[0] == '$' || len(key) >= 3 && key[0]|0x20 == 's' && key[1]|0x20 == 's' && key[2] == '_'
	return prefixed && !reservedKeys[string(key)] // the map only for the few keys that need it
}

// isSpace is Python's str.isspace, which the SDK's strip() and \s use.
func isSpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

// trim cuts the spaces isSpace finds at both ends of b. Most values start and end with a
// printable ASCII character, which is never a space: those are returned without a scan.
func trim(b []byte) []byte {
	if n := len(b); n > 0 && b[0] > ' ' && b[0] < utf8.RuneSelf && b[n-1] > ' ' && b[n-1] < utf8.RuneSelf {
		return b
	}
	return bytes.TrimFunc(b, isSpace)
}

const (
	emailMinLen  = 6
	emailMaxLen  = 127
	mobileMinLen = 8
)

// checkEmail applies ^\S+@\S+\.\S+$ and 6 <= length <= 127 (in characters) to a trimmed value.
func checkEmail(s []byte) string {
	at, dot := -1, -1
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if isSpace(r) {
				return quote(s) + " is not a valid email"
			}
			i += size
			continue
		}
		switch {
		case c <= ' ' && isSpace(rune(c)):
			return quote(s) + " is not a valid email"
		case c == '@' && at < 0 && i > 0:
			at = i
		case c == '.':
			dot = i
		}
		i++
	}
	if at < 0 || dot < at+2 || dot >= len(s)-1 {
		return quote(s) + " is not a valid email"
	}
	if n := utf8.RuneCount(s); n < emailMinLen || n > emailMaxLen {
		return quote(s) + " is not a valid email: it must be 6 to 127 characters long"
	}
	return ""
}

// checkMobile applies ^\+[0-9\s]+ (a prefix match, as the SDK does) and length >= 8.
func checkMobile(s []byte) string {
	if len(s) < 2 || s[0] != '+' {
		return quote(s) + " is not a valid mobile number: it must start with + and the country code, e.g. +41446681800"
	}
	r, _ := utf8.DecodeRune(s[1:])
	if !(r >= '0' && r <= '9') && !isSpace(r) {
		return quote(s) + " is not a valid mobile number: it must start with + and the country code, e.g. +41446681800"
	}
	if utf8.RuneCount(s) < mobileMinLen {
		return quote(s) + " is not a valid mobile number: it must be at least 8 characters long"
	}
	return ""
}

// pushProviders lists the providers each push channel accepts; the first is the default.
func pushProviders(c channel) []string {
	switch c {
	case chAndroidPush:
		return []string{"fcm", "xiaomi", "oppo"}
	case chIOSPush:
		return []string{"apns"}
	default:
		return []string{"vapid"}
	}
}

func channelName(c channel) string { return channelKeys[c][1:] }
