// An evhost handler in TypeScript: on order.placed it reads the order's id
// and product, logs a line and emits order.seen. An order without an id is
// rejected (dead-lettered, no retry).
import type { EvhostEvent } from "./evhost";

interface Order {
  id: number;
  product_id: string;
}

export function handle(event: EvhostEvent): void {
  const order = event.data as Order | undefined;
  if (!order || typeof order.id !== "number") {
    throw evhost.reject("an order needs a numeric id");
  }
  evhost.log.info(`order ${order.id} for ${order.product_id}`);
  evhost.emit("order.seen", { id: order.id, product: order.product_id }, { subject: `order/${order.id}` });
}
