package publish_test

import (
	"context"
	"log"
	"time"

	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/profile/publish"
)

// A service publishes a user's profile changes; profile-ingest sends them to SuprSend.
func Example() {
	p, err := publish.New(publish.Config{
		Brokers: []string{"kafka-1:9092", "kafka-2:9092"},
		Topic:   "profile-mutations",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// One user.
	m := profile.NewMutation("u-42").
		AddEmail("a@example.com").
		AddAndroidPush("fcm-token", "").
		Set("plan", "pro").
		Increment("logins", 1)
	if err := p.Publish(ctx, m); err != nil {
		log.Fatal(err)
	}

	// Many users in one write; nothing is written if one of them is invalid.
	err = p.Publish(ctx,
		profile.NewMutation("u-1").SetPreferredLanguage("fr"),
		profile.NewMutation("u-2").Unset("$sms", "$whatsapp"),
	)
	if err != nil {
		log.Fatal(err)
	}
}
