package sender

import (
	"net/http"
	"time"
)

// Headers returns the headers the Sender sends with a POST of body to requestURI (the path,
// plus "?" and the query if any, e.g. "/event/"), dated date: Content-Type, Date (FormatDate),
// Authorization (creds.Key + ":" + Sign(...)) and, when userAgent is not empty, User-Agent.
// The HTTP client adds the unsigned rest (Content-Length, Host, ...).
func Headers(creds Credentials, userAgent, requestURI string, body []byte, date time.Time) http.Header {
	h := make(http.Header, 4)
	setHeaders(h, creds, userAgent, http.MethodPost, requestURI, ContentMD5(body), date)
	return h
}

// setHeaders sets the signed headers on h for a request whose body has the given content MD5;
// the Sender computes that once per body and reuses it across attempts.
func setHeaders(h http.Header, creds Credentials, userAgent, method, requestURI, contentMD5 string, date time.Time) {
	d := FormatDate(date)
	h.Set("Content-Type", ContentType)
	h.Set("Date", d)
	h.Set("Authorization", creds.Key+":"+Sign(creds.Secret, method, contentMD5, ContentType, d, requestURI))
	if userAgent != "" {
		h.Set("User-Agent", userAgent)
	}
}
