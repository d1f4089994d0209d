package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/config"
)

// dlqHeadroom is what a dead letter may add to its record: this worker's headers (the error
// text at most 2 KiB) with room to spare.
const dlqHeadroom = 64 << 10

// ensureDLQTopic checks that the dead-letter topic exists, creating it when configured to, and
// warns when it cannot take a dead letter of the largest record the consumed topics take. It
// returns the topic's max.message.bytes, or 0 when it could not be read.
func ensureDLQTopic(ctx context.Context, cfg config.Config, transport *kafka.Transport, log zerolog.Logger) (int, error) {
	c := &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Timeout: 30 * time.Second, Transport: transport}
	topic := cfg.DLQTopic()
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	switch {
	case err != nil:
		return 0, fmt.Errorf("kafka %s: %w", strings.Join(cfg.Kafka.Brokers, ","), err)
	case len(md.Topics) == 1 && md.Topics[0].Error == nil:
		return checkDLQCapacity(ctx, c, topic, cfg.Kafka.Topics, log), nil
	case len(md.Topics) == 1 && !errors.Is(md.Topics[0].Error, kafka.UnknownTopicOrPartition):
		return 0, fmt.Errorf("dead-letter topic %s: %w", topic, md.Topics[0].Error)
	}
	if !cfg.DLQ.Create {
		return 0, fmt.Errorf("dead-letter topic %s does not exist (create it, or set dlq.create: true)", topic)
	}
	return cfg.DLQ.MaxMessageBytes, createTopic(ctx, c, topic, cfg.DLQ.Partitions,
		kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(cfg.DLQ.MaxMessageBytes)})
}

// checkDLQCapacity warns when the dead-letter topic's max.message.bytes leaves less than
// dlqHeadroom over a consumed topic's: a record near that topic's limit could not be
// dead-lettered, and the worker would hold its partition, retrying, until the limit is raised.
// A cluster that does not answer is not a reason to stop: the check is advice. It returns the
// dead-letter topic's max.message.bytes, or 0 when it could not be read.
func checkDLQCapacity(ctx context.Context, c *kafka.Client, dlqTopic string, topics []string, log zerolog.Logger) int {
	limits, err := maxMessageBytes(ctx, c, append([]string{dlqTopic}, topics...))
	if err != nil || limits[dlqTopic] <= 0 {
		log.Debug().Err(err).Msg("max.message.bytes of the topics not read")
		return 0
	}
	for _, t := range topics {
		if need := limits[t] + dlqHeadroom; limits[t] > 0 && limits[dlqTopic] < need {
			log.Warn().Str("dlq", dlqTopic).Int("dlq_max_message_bytes", limits[dlqTopic]).Str("topic", t).
				Int("topic_max_message_bytes", limits[t]).Int("needed_max_message_bytes", need).
				Msg("the dead-letter topic cannot take the dead letter of every record of the topic; a record that large would hold its partition until the dead-letter topic's max.message.bytes is raised to needed_max_message_bytes")
		}
	}
	return limits[dlqTopic]
}

// maxMessageBytes reads the max.message.bytes of topics.
func maxMessageBytes(ctx context.Context, c *kafka.Client, topics []string) (map[string]int, error) {
	req := &kafka.DescribeConfigsRequest{}
	for _, t := range topics {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: t, ConfigNames: []string{"max.message.bytes"},
		})
	}
	res, err := c.DescribeConfigs(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range res.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %w", r.ResourceName, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "max.message.bytes" {
				out[r.ResourceName], _ = strconv.Atoi(e.ConfigValue)
			}
		}
	}
	return out, nil
}

// createTopic creates topic with the given partitions and configs unless it exists.
func createTopic(ctx context.Context, c *kafka.Client, topic string, partitions int, configs ...kafka.ConfigEntry) error {
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: -1, ConfigEntries: configs,
	}}})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	return nil
}
