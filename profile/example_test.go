package profile_test

import (
	"fmt"
	"time"

	"github.com/profile-ingest/profile-ingest/profile"
)

// Build a v1 message with the SDK's user methods.
func ExampleNewMutation() {
	m := profile.NewMutation("u-42").
		WithEventID("signup-u-42").
		AddEmail("a@example.com").
		AddAndroidPush("xiaomi-token", "xiaomi").
		Set("plan", "pro").
		Increment("logins", 1).
		Unset("$sms")
	b, err := m.MarshalJSON()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))

	bad := profile.NewMutation("u-42").AddEmail("x y@example.com")
	fmt.Println(bad.Validate())
	// Output:
	// {"distinct_id":"u-42","operations":[{"add_email":"a@example.com"},{"add_androidpush":{"token":"xiaomi-token","provider":"xiaomi"}},{"set":{"plan":"pro"}},{"increment":{"logins":1}},{"unset":["$sms"]}],"event_id":"signup-u-42"}
	// operations[0].add_email: "x y@example.com" is not a valid email
}

// A Decoder turns a message into the identity event the worker sends.
func ExampleDecoder_Decode() {
	dec, err := profile.NewDecoder(profile.Options{WorkspaceKey: "WORKSPACE_KEY", UserAgent: "profile-ingest/1.0.0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := []byte(`{"distinct_id":"u-42","operations":[{"add_email":"a@example.com"},{"set":{"plan":"pro"}}],"event_id":"e-1"}`)
	origin := profile.Origin{Topic: "profile-mutations", Partition: 0, Offset: 7, Timestamp: time.UnixMilli(1714557600000)}
	ev, err := dec.Decode(msg, origin)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(ev.Body))

	_, err = dec.Decode([]byte(`{"distinct_id":"u-42","operations":[{"add_fax":"+1"}]}`), origin)
	e := err.(*profile.Error)
	fmt.Println(e.Reason, e.Code(), e)
	// Output:
	// {"$schema":"2","$insert_id":"e-1","$time":1714557600000,"env":"WORKSPACE_KEY","distinct_id":"u-42","$user_operations":[{"$append":{"$email":"a@example.com"}},{"$set":{"plan":"pro"}}],"properties":{"$ss_sdk_version":"profile-ingest/1.0.0"}}
	// invalid_operation 400 operations[0]: unknown operation "add_fax"
}
