package sender

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// ContentType is the Content-Type the SDKs send and sign.
const ContentType = "application/json; charset=utf-8"

// DateFormat is the RFC 1123 GMT form of the Date header, as the go SDK writes it (in UTC).
const DateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// ContentMD5 is the lowercase hex MD5 of the exact body bytes; "" for an empty body.
func ContentMD5(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

// StringToSign joins the signed parts with "\n": method, content MD5, content type, Date header
// and request URI (path, plus "?" and the query if any).
func StringToSign(method, contentMD5, contentType, date, requestURI string) string {
	return method + "\n" + contentMD5 + "\n" + contentType + "\n" + date + "\n" + requestURI
}

// Sign returns the request signature of SuprSend's server SDKs: base64 (standard, padded) of
// HMAC-SHA256 keyed with the workspace secret over StringToSign. The Authorization header is
// key + ":" + Sign(...).
func Sign(secret, method, contentMD5, contentType, date, requestURI string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(StringToSign(method, contentMD5, contentType, date, requestURI)))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// FormatDate renders t as the Date header: RFC 1123 in GMT.
func FormatDate(t time.Time) string { return t.UTC().Format(DateFormat) }
