export interface Item {
    productId: string;
    name: string;
    quantity: number;
    price: number;
}
export interface Cart {
    userId: string | null;
    items: Item[];
    checkedOut: boolean;
}
/** A shopping cart: the command side of the shop. */
export declare const cart: import("sagaflow").EntityDefinition<Cart, {
    itemAdded: (s: Cart, e: {
        userId: string;
        item: Item;
    }) => Cart;
    itemRemoved: (s: Cart, e: {
        productId: string;
    }) => Cart;
    checkedOut: (s: Cart, _e: {
        items: Item[];
    }) => Cart;
}, {
    addItem: (s: Cart, c: {
        userId: string;
        productId: string;
        name: string;
        quantity: number;
        price: number;
    }, fx: import("sagaflow").EntityEffects<Cart, import("sagaflow").EventsOf<{
        itemAdded: (s: Cart, e: {
            userId: string;
            item: Item;
        }) => Cart;
        itemRemoved: (s: Cart, e: {
            productId: string;
        }) => Cart;
        checkedOut: (s: Cart, _e: {
            items: Item[];
        }) => Cart;
    }>>) => import("sagaflow").Effect<{
        userId: string | null;
        items: Item[];
        checkedOut: boolean;
    }>;
    removeItem: (s: Cart, c: {
        productId: string;
    }, fx: import("sagaflow").EntityEffects<Cart, import("sagaflow").EventsOf<{
        itemAdded: (s: Cart, e: {
            userId: string;
            item: Item;
        }) => Cart;
        itemRemoved: (s: Cart, e: {
            productId: string;
        }) => Cart;
        checkedOut: (s: Cart, _e: {
            items: Item[];
        }) => Cart;
    }>>) => import("sagaflow").Effect<{
        userId: string | null;
        items: Item[];
        checkedOut: boolean;
    }>;
    checkout: (s: Cart, _: {}, fx: import("sagaflow").EntityEffects<Cart, import("sagaflow").EventsOf<{
        itemAdded: (s: Cart, e: {
            userId: string;
            item: Item;
        }) => Cart;
        itemRemoved: (s: Cart, e: {
            productId: string;
        }) => Cart;
        checkedOut: (s: Cart, _e: {
            items: Item[];
        }) => Cart;
    }>>) => import("sagaflow").Effect<{
        userId: string | null;
        items: Item[];
        checkedOut: boolean;
    }>;
}, {
    get: (s: Cart, _: {}, fx: import("sagaflow").ReplyEffects) => import("sagaflow").Effect<{
        userId: string | null;
        items: Item[];
        checkedOut: boolean;
    }>;
}>;
