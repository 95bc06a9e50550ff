"""Apache Kafka for development and CI: a single-node KRaft broker run from Maven Central jars
(:mod:`ops.kafka.broker`) and Lagezentrum's topic specs (:mod:`ops.kafka.topics`).

Nothing is imported here: the broker helper needs no Kafka client, the topics module does.
"""
