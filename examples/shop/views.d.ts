/** Carts by user, and the open ones: the query side of the cart. */
export declare const carts: import("sagaflow").ViewDefinition<{
    byUser: string;
    open: string;
}>;
/** Best sellers, from the product stats' state changes. */
export declare const products: import("sagaflow").ViewDefinition<{
    top: string;
}>;
