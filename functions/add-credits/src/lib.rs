//! POST /functions/v1/add-credits — an operator adds credits to an account (service-role key only).
shared::function!("add-credits", [Post], service => shared::api::credits::add);
