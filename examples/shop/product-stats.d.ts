/** Units sold of one product (the id): kept by the `sales` consumer. */
export declare const productStats: import("sagaflow").KeyValueDefinition<{
    unitsSold: number;
}, {
    recordSale: (s: {
        unitsSold: number;
    }, c: {
        quantity: number;
    }, fx: import("sagaflow").KeyValueEffects<{
        unitsSold: number;
    }>) => import("sagaflow").Effect<{
        unitsSold: number;
    }>;
}, {
    get: (s: {
        unitsSold: number;
    }, _: {}, fx: import("sagaflow").ReplyEffects) => import("sagaflow").Effect<{
        unitsSold: number;
    }>;
}>;
/** Each checked-out cart adds its quantities to the products' stats, exactly once (keyed calls). */
export declare const sales: import("sagaflow").ConsumerDefinition;
