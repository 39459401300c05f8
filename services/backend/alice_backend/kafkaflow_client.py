"""kafkaflow's API (`/api/flows/...`, internal token only), one typed method per endpoint."""

from alice_common.admin_wire import (
    DlqRecordPage,
    DlqTopicList,
    FlowGraph,
    FlowView,
    ReplayRequest,
    ReplayResult,
)

from alice_backend.internal_client import InternalClient, seg


class KafkaflowClient(InternalClient):
    async def flows(self) -> FlowView:
        return await self.get_as(FlowView, "GET", "/api/flows")

    async def refresh_flows(self) -> FlowGraph:
        return await self.get_as(FlowGraph, "POST", "/api/flows/refresh")

    async def dlq_topics(self) -> DlqTopicList:
        return await self.get_as(DlqTopicList, "GET", "/api/flows/dlq")

    async def dlq_records(self, topic: str, limit: int, partition: int | None = None) -> DlqRecordPage:
        params = {"limit": limit, "partition": partition}
        return await self.get_as(DlqRecordPage, "GET", f"/api/flows/dlq/{seg(topic)}", params=params)

    async def replay(self, topic: str, request: ReplayRequest) -> ReplayResult:
        path = f"/api/flows/dlq/{seg(topic)}/replay"
        return await self.get_as(ReplayResult, "POST", path, json=request.model_dump(exclude_defaults=True))
